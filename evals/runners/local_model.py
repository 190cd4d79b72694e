"""What the local runners (transformers, vLLM offline) share: a saved base model directory,
an optional LoRA adapter directory, generation in fixed-size batches, and a description
carrying both directories' checksums.

Subclasses load the model and implement `_generate_batch` and `_engine_settings`.
"""
from __future__ import annotations

import time
from abc import abstractmethod
from pathlib import Path
from typing import Any, Sequence

from evals.checksums import directory_sha256
from evals.runners.base import Completion, ProgressCallback, Runner, RunnerError


class LocalModelRunner(Runner):
    """A runner over a local base model (+ optional adapter), greedy, batch by batch."""

    def __init__(
        self,
        base_dir: str | Path,
        adapter_dir: str | Path | None,
        batch_size: int,
        max_new_tokens: int,
        *,
        progress: ProgressCallback | None,
        progress_every: int,
    ):
        super().__init__(progress=progress, progress_every=progress_every)
        self.base_dir = Path(base_dir)
        self.adapter_dir = Path(adapter_dir) if adapter_dir is not None else None
        self.batch_size, self.max_new_tokens = batch_size, max_new_tokens
        self._sha: dict[str, str] = {}  # checksums, computed once on the first describe()

    @abstractmethod
    def _generate_batch(self, batch: list[str]) -> list[Completion]:
        """One Completion per prompt of the batch; a failed batch is recorded, not raised."""

    @abstractmethod
    def _engine_settings(self) -> dict[str, Any]:
        """Where and in what precision the model runs (device, dtype), for describe()."""

    def describe(self) -> dict[str, Any]:
        if "base" not in self._sha:
            self._sha["base"] = directory_sha256(self.base_dir)
            if self.adapter_dir is not None:
                self._sha["adapter"] = directory_sha256(self.adapter_dir)
        return {
            "runner": self.name,
            "base_model": str(self.base_dir),
            "base_model_sha256": self._sha["base"],
            "adapter": str(self.adapter_dir) if self.adapter_dir else None,
            "adapter_sha256": self._sha.get("adapter"),
            **self._engine_settings(),
            "max_new_tokens": self.max_new_tokens,
            "decoding": "sampling" if float(getattr(self, "params", {}).get("temperature") or 0) > 0 else "greedy",
            "params": dict(getattr(self, "params", {})),
        }

    def generate(self, prompts: Sequence[str]) -> list[Completion]:
        progress = self._progress(len(prompts))
        out: list[Completion] = []
        for start in range(0, len(prompts), self.batch_size):
            batch = list(prompts[start : start + self.batch_size])
            out.extend(self._generate_batch(batch))
            progress.advance(len(batch))
        return out


def generation_params(params: dict[str, Any] | None, max_new_tokens: int) -> dict[str, Any]:
    """An entry's params in canonical names (llmreg.registry.generation), greedy unless they
    say otherwise; `max_new_tokens` fills max_tokens when the params leave it open."""
    from llmreg.registry.generation import canonical_params

    out = {"temperature": 0.0, **canonical_params(params)}
    out.setdefault("max_tokens", max_new_tokens)
    if int(out.get("n") or 1) > 1:
        raise RunnerError("params.n > 1: an eval scores one completion per prompt; set n to 1")
    return out


def failed_batch(batch: list[str], began: float, error: str) -> list[Completion]:
    """Every prompt of a batch that failed as a whole, with the time spent until it failed."""
    elapsed = (time.perf_counter() - began) * 1000
    return [Completion("", elapsed, 0, 0, error) for _ in batch]
