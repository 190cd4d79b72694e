"""Where and in what precision training runs: bf16 on a GPU when there is one, float32 on CPU."""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Device:
    torch_device: torch.device
    dtype: torch.dtype  # autocast precision; master weights stay float32

    @property
    def is_cuda(self) -> bool:
        return self.torch_device.type == "cuda"


def training_device() -> Device:
    if torch.cuda.is_available():
        return Device(torch.device("cuda"), torch.bfloat16)
    return Device(torch.device("cpu"), torch.float32)
