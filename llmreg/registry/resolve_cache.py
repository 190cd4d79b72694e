"""The resolve cache: a wrapper around the uncached query, never part of a write.

Answers come from a dict checked against the log's head sequence number at most every
`refresh_interval` seconds; `invalidate(seq)` (called after each write through the same
Registry) clears it at once. A pointer row read again that has not changed reuses its
Resolved, so a cache miss costs one primary-key query.
"""
from __future__ import annotations

import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from llmreg.registry.queries import Queries
    from llmreg.registry.resolve import Resolved

_monotonic = time.monotonic
MAX_KEYS = 65_536  # (name, env, stage) answers kept; a caller resolving ever more names stays bounded


class ResolveCache:
    def __init__(self, queries: Queries, *, enabled: bool = True, refresh_interval: float = 0.5):
        self.queries = queries
        self.enabled = enabled
        self.refresh_interval = float(refresh_interval)
        self._resolved: dict[tuple, Resolved] = {}
        self._rows: dict[tuple, tuple[tuple, Resolved]] = {}
        self._seen_seq = -1
        self._next_check = 0.0

    def resolve(self, name: str, env: str, stage: str, at: Any = None) -> Resolved:
        if at is not None:
            return self.queries.resolve(name, env, stage, at)
        key = (name, env, stage)
        if self.enabled:
            now = _monotonic()
            if now >= self._next_check:
                self._check_head(now)
            hit = self._resolved.get(key)
            if hit is not None:
                return hit
        resolved = self._uncached(name, env, stage)
        if self.enabled:
            if len(self._resolved) >= MAX_KEYS:
                self._resolved.clear()
            self._resolved[key] = resolved
        return resolved

    def cached(self, name: str, env: str, stage: str) -> Resolved | None:
        """The hot path: a dict hit, the head re-checked at most every refresh_interval."""
        if not self.enabled:
            return None
        now = _monotonic()
        if now >= self._next_check:
            self._check_head(now)
        return self._resolved.get((name, env, stage))

    def _uncached(self, name: str, env: str, stage: str) -> Resolved:
        row = self.queries.store.pointer(name, env, stage)
        key = (name, env, stage)
        cached = self._rows.get(key)
        if row is not None and cached is not None and cached[0] == row:
            return cached[1]
        resolved = self.queries.resolve(name, env, stage)
        if row is not None:
            if len(self._rows) >= MAX_KEYS:
                self._rows.clear()
            self._rows[key] = (row, resolved)
        return resolved

    def _check_head(self, now: float) -> None:
        seq = self.queries.store.head_seq()
        if seq != self._seen_seq:
            self._resolved.clear()
            self._seen_seq = seq
        self._next_check = now + self.refresh_interval

    def invalidate(self, seq: int | None = None) -> None:
        self._resolved.clear()
        self._next_check = 0.0 if seq is None else _monotonic() + self.refresh_interval
        if seq is not None:
            self._seen_seq = seq

    def forget(self) -> None:
        self._rows.clear()
        self.invalidate()
