"""Sticky, deterministic traffic assignment for canary and shadow splits.

A caller key (header `X-LLMReg-Caller`, else the OpenAI `user` field) hashes to a point in
[0, 1); the caller goes to the canary when the point is below the canary's weight. The hash
is salted with the entry name and environment but not the canary version, so raising the
weight from 0.05 to 0.25 only adds callers to the canary: nobody flips back and forth
during a ramp, and every replica computes the same answer with no shared state.
"""
from __future__ import annotations

import hashlib
import random

_SCALE = float(1 << 64)


def bucket(key: str, salt: str) -> float:
    """A stable point in [0, 1) for `key` (blake2b: fast, uniform, same on every machine)."""
    digest = hashlib.blake2b(f"{salt}\x00{key}".encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE


def in_split(key: str | None, salt: str, weight: float | None) -> bool:
    """True when the caller falls inside a split of `weight` (0..1).

    Without a caller key the draw is random per request: still the right proportion, but
    not sticky (callers who need stickiness send X-LLMReg-Caller or `user`).
    """
    if not weight or weight <= 0.0:
        return False
    if weight >= 1.0:
        return True
    point = bucket(key, salt) if key else random.random()
    return point < weight


def split_salt(name: str, env: str, purpose: str = "canary") -> str:
    return f"{purpose}\x00{name}\x00{env}"
