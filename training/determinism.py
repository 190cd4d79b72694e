"""Bit-for-bit reproducible training: seeded RNGs, deterministic kernels, a fixed thread count.

CPU float reductions are split across threads, and a different split gives different
rounding, so the thread count is part of the reproducibility contract, not a tuning knob.
"""
from __future__ import annotations

import os
import random
from contextlib import contextmanager
from typing import Iterator

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device


@contextmanager
def deterministic_run(seed: int, threads: int = 1) -> Iterator[None]:
    """Seed, force deterministic kernels and pin the thread count; restore the old settings after."""
    old_threads = torch.get_num_threads()
    old_deterministic = torch.are_deterministic_algorithms_enabled()
    if torch.cuda.is_available():
        # cuBLAS needs a fixed workspace to be deterministic; it is read when cuBLAS starts.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    seed_everything(seed)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(old_deterministic)
        torch.set_num_threads(old_threads)
