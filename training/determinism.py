"""Bit-for-bit reproducible training: seeded RNGs, deterministic kernels, a fixed thread count.

CPU float reductions are split across threads, and a different split gives different
rounding, so the thread count is part of the reproducibility contract, not a tuning knob.
The kernel *paths* (ATen dispatch, MKL, oneDNN) are pinned by training/kernels.py before
torch loads; oneDNN is also switched off here, where torch can still be told at run time.
"""
from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device


@contextmanager
def deterministic_run(seed: int, threads: int = 1) -> Iterator[None]:
    """Seed, force deterministic kernels, no oneDNN, pin the thread count; restore after."""
    old_threads = torch.get_num_threads()
    old_deterministic = torch.are_deterministic_algorithms_enabled()
    old_mkldnn = torch.backends.mkldnn.enabled
    torch.set_num_threads(threads)
    torch.backends.mkldnn.enabled = False
    torch.use_deterministic_algorithms(True)
    seed_everything(seed)
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = old_mkldnn
        torch.use_deterministic_algorithms(old_deterministic)
        torch.set_num_threads(old_threads)
