"""Sticky, deterministic traffic assignment for canary, shadow and experiment splits.

A caller key (header `X-LLMReg-Caller`, else the OpenAI `user` field) hashes to a point in
[0, 1); the caller goes to the canary when the point is below the canary's weight. The hash
is salted with the entry name and environment but not the canary version, so raising the
weight from 0.05 to 0.25 only adds callers to the canary: nobody flips back and forth
during a ramp, and every replica computes the same answer with no shared state.

Experiments (A/B across entries) use the same hash salted with the experiment's name: a
caller's experiment variant and its canary assignment inside that variant's entry are
independent draws, so a canary sees a fair slice of every experiment arm.
"""
from __future__ import annotations

import hashlib
import random
from typing import Sequence

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


def experiment_salt(experiment: str, env: str) -> str:
    return split_salt(experiment, env, "experiment")


def pick(key: str | None, salt: str, weights: Sequence[float]) -> int:
    """The index of the share `key` falls in, for shares laid end to end on [0, 1).

    Weights sum to 1 (the config checks). Changing them moves only the callers near the
    boundaries that shifted. Without a key the draw is random per request, as in `in_split`.
    """
    point = bucket(key, salt) if key else random.random()
    cumulative = 0.0
    last = 0
    for index, weight in enumerate(weights):
        if weight <= 0.0:
            continue
        cumulative += weight
        last = index
        if point < cumulative:
            return index
    return last  # rounding left the sum a hair under 1: the point belongs to the last share
