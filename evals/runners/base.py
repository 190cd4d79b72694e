"""The runner port: turn rendered prompts into completions, one per prompt, in order.

A runner never raises half-way through a list because one prompt failed: that prompt's
Completion carries `error` and the rest still run. Exceptions are for setup problems
(missing model, runner unavailable), raised before any generation.
"""
from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable, Sequence

log = logging.getLogger("evals.runners")

ProgressCallback = Callable[[int, int], None]  # (done, total)


class RunnerError(RuntimeError):
    """A runner could not be set up (bad path, bad config)."""


class RunnerUnavailable(RunnerError):
    """The runner's engine cannot run on this machine (not installed, no GPU)."""


@dataclass(frozen=True)
class Completion:
    text: str
    latency_ms: float
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class Progress:
    """Calls `callback(done, total)` every `every` items and at the end; thread-safe.

    Without a callback it logs one INFO line per report, which DVC stages show.
    """

    def __init__(self, name: str, total: int, callback: ProgressCallback | None, every: int):
        self.name, self.total, self.callback = name, total, callback
        self.every = max(1, every)
        self.done = 0
        self._next = self.every
        self._lock = threading.Lock()
        self._start = time.perf_counter()

    def advance(self, n: int = 1) -> None:
        with self._lock:
            self.done += n
            if self.done < self._next and self.done < self.total:
                return
            while self._next <= self.done:
                self._next += self.every
            done = self.done
        if self.callback is not None:
            self.callback(done, self.total)
        else:
            rate = done / max(time.perf_counter() - self._start, 1e-9)
            log.info("%s: %d/%d prompts (%.1f/s)", self.name, done, self.total, rate)


class Runner(ABC):
    """Generates completions for prompts. Subclasses set `name` and implement generate."""

    name: str = "runner"

    def __init__(self, *, progress: ProgressCallback | None = None, progress_every: int = 100):
        self.progress_callback = progress
        self.progress_every = progress_every

    @abstractmethod
    def generate(self, prompts: Sequence[str]) -> list[Completion]:
        """One Completion per prompt, same order; failures are recorded, not raised."""

    def describe(self) -> dict[str, Any]:
        """What is being evaluated (model checksums, provider snapshot), for the report."""
        return {"runner": self.name}

    def base_variant(self) -> "Runner":
        """The same runner without the fine-tuned adapter, for base-vs-tuned reports."""
        raise RunnerError(f"runner {self.name} has no base variant: evaluate the base model separately")

    def pricing(self) -> dict[str, float] | None:
        """Per-1k-token prices this runner knows of, overriding the suite's; None if none."""
        return None

    def _progress(self, total: int) -> Progress:
        return Progress(self.name, total, self.progress_callback, self.progress_every)
