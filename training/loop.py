"""The one optimisation loop both pretraining and LoRA fine-tuning use.

The data order is a fixed stream of seeded permutations, so step k always sees the same
examples; the schedule is linear warmup then a constant rate. (A linear decay to zero
was tried: with 300 LoRA steps at 1e-2 it reached the same accuracy, but needed about
twice the steps to get there, which makes the small test runs weaker.)
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Sequence

import torch

from training.device import Device
from training.errors import TrainingError


@dataclass(frozen=True)
class Batch:
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor  # -100 where no loss is taken

    def __len__(self) -> int:
        return self.input_ids.shape[0]


@dataclass(frozen=True)
class LoopResult:
    steps: int
    final_loss: float
    mean_last_10_loss: float
    seconds: float
    losses: tuple[float, ...] = ()  # per step: the loss curve DVC plots


def pad_right(sequences: Sequence[Sequence[int]], label_sequences: Sequence[Sequence[int]], pad_id: int) -> Batch:
    """Right-pad token and label lists into one Batch; padded positions take no loss.

    Right padding keeps every sequence at positions 0..n-1, the same positions that
    generation assigns to a left-padded prompt from its attention mask.
    """
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    labels = torch.full((len(sequences), width), -100, dtype=torch.long)
    for row, (seq, lab) in enumerate(zip(sequences, label_sequences, strict=True)):
        ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        mask[row, : len(seq)] = 1
        labels[row, : len(lab)] = torch.tensor(lab, dtype=torch.long)
    return Batch(ids, mask, labels)


def _lr_factor(step: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    return 1.0


def train_steps(
    model: torch.nn.Module,
    data: Batch,
    *,
    steps: int,
    batch_size: int,
    lr: float,
    warmup_steps: int,
    seed: int,
    device: Device,
) -> LoopResult:
    """Run `steps` AdamW steps over `data` (trainable parameters only) and return the losses' summary."""
    started = time.perf_counter()
    model.to(device.torch_device)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    # fused: the per-tensor AdamW takes torch.sqrt, which on CPU is MKL's vector math (vsSqrt),
    # not correctly rounded and CPU-dependent even under MKL_CBWR=COMPATIBLE (measured: an
    # AVX-512 Xeon and an emulated AVX2 EPYC round 0.1% of denominators differently). The fused
    # kernel's scalar sqrt is IEEE-exact, so every x86-64 CPU gets the same step.
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0, fused=True)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: _lr_factor(s, warmup_steps))
    order_rng = torch.Generator().manual_seed(seed)
    queue: list[int] = []
    losses: list[float] = []
    n = len(data)
    for _ in range(steps):
        while len(queue) < min(batch_size, n):
            queue.extend(torch.randperm(n, generator=order_rng).tolist())
        take, queue = queue[: min(batch_size, n)], queue[min(batch_size, n):]
        index = torch.tensor(take, dtype=torch.long)
        ids = data.input_ids[index]
        mask = data.attention_mask[index]
        width = int(mask.sum(dim=1).max())  # trim columns that are padding in every row
        ids, mask, labels = (t[:, :width].to(device.torch_device) for t in (ids, mask, data.labels[index]))
        with torch.autocast(device.torch_device.type, dtype=device.dtype, enabled=device.is_cuda):
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        if not math.isfinite(loss.item()):
            raise TrainingError(
                f"training loss became {loss.item()} at step {len(losses)}; lower the learning rate "
                "(lora.lr or base_model.pretrain_lr)"
            )
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
    model.eval()
    tail = losses[-10:]
    return LoopResult(
        steps=steps,
        final_loss=losses[-1],
        mean_last_10_loss=sum(tail) / len(tail),
        seconds=time.perf_counter() - started,
        losses=tuple(losses),
    )
