"""Admission control: a bounded queue per backend, so one slow request cannot stall everyone.

Each backend (a local model, an upstream) runs at most `max_concurrent` requests and lets at
most `max_queued` more wait; past that a request is answered at once with 503
`server_overloaded` and `Retry-After` instead of joining an unbounded queue. Together with
the entry's max_tokens cap and the context-length check this bounds how long any request
waits behind others.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from llmreg.serving.api_errors import ApiError


@dataclass
class _Gate:
    name: str
    max_concurrent: int
    max_queued: int
    semaphore: asyncio.Semaphore
    waiting: int = 0
    active: int = 0


class Admission:
    def __init__(self, limits: Any):
        self.limits = limits
        self._gates: dict[int, _Gate] = {}
        self.rejected = 0

    def _gate(self, backend: Any) -> _Gate:
        gate = self._gates.get(id(backend))
        if gate is None:
            local = getattr(backend, "kind", "upstream") != "upstream"
            limit = self.limits.local if local else self.limits.upstream
            gate = _Gate(getattr(backend, "name", None) or backend.kind, limit.max_concurrent, limit.max_queued,
                         asyncio.Semaphore(limit.max_concurrent))
            self._gates[id(backend)] = gate
        return gate

    async def acquire(self, backend: Any) -> _Gate:
        gate = self._gate(backend)
        if gate.active >= gate.max_concurrent and gate.waiting >= gate.max_queued:
            self.rejected += 1
            error = ApiError(503, f"the {gate.name} backend is busy ({gate.active} running, {gate.waiting} queued, "
                                  f"limits.max_queued {gate.max_queued}); retry after "
                                  f"{self.limits.retry_after_s:g}s", type="server_error", code="server_overloaded")
            error.headers["retry-after"] = f"{self.limits.retry_after_s:g}"
            raise error
        gate.waiting += 1
        try:
            await gate.semaphore.acquire()
        finally:
            gate.waiting -= 1
        gate.active += 1
        return gate

    def release(self, gate: _Gate | None) -> None:
        if gate is None:
            return
        gate.active -= 1
        gate.semaphore.release()

    def snapshot(self) -> list[dict[str, Any]]:
        return [{"backend": g.name, "active": g.active, "queued": g.waiting} for g in self._gates.values()]
