"""Canonical JSON: the one byte encoding every registry hash is computed over.

Keys sorted, no whitespace, UTF-8 kept as is, NaN/inf refused. Read-only mappings
(MappingProxyType, as held by frozen entries) and tuples encode like dicts and lists,
so a frozen object and its plain `to_dict()` hash the same.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

TYPE_CHECKING = False  # the idiom that keeps `typing` out of run-time imports
if TYPE_CHECKING:
    from typing import Any

_ENCODER = json.JSONEncoder(
    sort_keys=True,
    separators=(",", ":"),
    ensure_ascii=False,
    allow_nan=False,
    default=lambda obj: _plain(obj),
)


def _plain(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return dict(obj)
    raise TypeError(f"{type(obj).__name__} is not a JSON value: convert it before hashing")


def canonical_json(obj: Any) -> bytes:
    """json.dumps(sort_keys, compact separators, ensure_ascii=False, allow_nan=False) as UTF-8."""
    return _ENCODER.encode(obj).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical_digest(obj: Any) -> str:
    """sha256 hex of canonical_json(obj)."""
    return hashlib.sha256(canonical_json(obj)).hexdigest()
