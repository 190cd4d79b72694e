"""Canonical JSON: the one byte encoding every registry hash is computed over.

Keys sorted, no whitespace, UTF-8 kept as is, NaN/inf refused. Read-only mappings
(MappingProxyType, as held by frozen entries) and tuples encode like dicts and lists,
so a frozen object and its plain `to_dict()` hash the same.
"""
from __future__ import annotations

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


# The C string encoder json uses for keys and values when ensure_ascii=False.
_encode_str = json.encoder.encode_basestring


def _plain(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return dict(obj)
    raise TypeError(f"{type(obj).__name__} is not a JSON value: convert it before hashing")


class Encoded(dict):
    """A plain JSON object that carries its canonical text, so the registration path
    encodes a release tuple once and reuses the text for its digest and its event.
    READ-ONLY by contract: `text` is not recomputed on change."""

    __slots__ = ("text",)

    def __init__(self, data: Mapping[str, Any], text: str):
        super().__init__(data)
        self.text = text

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> "Encoded":
        """`data` (str keys) with its canonical text; values that are Encoded lend theirs."""
        return cls(data, encode_object({key: canonical_text(value) for key, value in data.items()}))


try:  # the C encoder JSONEncoder.encode builds on each call, called without the Python layers
    from _json import make_encoder as _c_make_encoder
except ImportError:  # pragma: no cover - CPython always has _json
    _c_make_encoder = None  # type: ignore[assignment, misc]


def _encode(obj: Any) -> str:
    """_ENCODER.encode(obj): the same C encoder and arguments (fresh circular-reference
    markers each call), minus ~1 us of Python per call: a registration encodes ~20 values."""
    cls = obj.__class__
    if cls is str:
        return _encode_str(obj)
    if cls is int:
        return int.__repr__(obj)  # what the C encoder writes for an int
    if obj is None:
        return "null"
    if _c_make_encoder is None:  # pragma: no cover
        return _ENCODER.encode(obj)
    chunks = _c_make_encoder({}, _plain, _encode_str, None, ":", ",", True, False, False)(obj, 0)
    return "".join(chunks)


# One C encoder reused for values known to be trees (validated, frozen then thawed: no
# cycles): without the circular-reference markers it holds no state between calls.
_TREE_ENCODER = (_c_make_encoder(None, _plain, _encode_str, None, ":", ",", True, False, False)
                 if _c_make_encoder is not None else None)


def tree_text(obj: Any) -> str:
    """canonical_text(obj) for a value that is a tree (no container inside itself)."""
    cls = obj.__class__
    if cls is str:
        return _encode_str(obj)
    if _TREE_ENCODER is None or cls is Encoded:  # pragma: no cover - CPython always has _json
        return canonical_text(obj)
    return "".join(_TREE_ENCODER(obj, 0))


def canonical_json(obj: Any) -> bytes:
    """json.dumps(sort_keys, compact separators, ensure_ascii=False, allow_nan=False) as UTF-8."""
    return canonical_text(obj).encode("utf-8")


def canonical_text(obj: Any) -> str:
    """canonical_json(obj) as str (what the store keeps)."""
    if type(obj) is Encoded:
        return obj.text
    return _encode(obj)


def encode_object(parts: Mapping[str, str]) -> str:
    """The canonical text of an object whose values are given already encoded (key -> the
    value's canonical text): the bytes json.dumps(sort_keys=True) writes for the object."""
    return "{" + ",".join([f"{_encode_str(key)}:{parts[key]}" for key in sorted(parts)]) + "}"


def sha256_hex(data: bytes) -> str:
    import hashlib  # not at import: `llmreg resolve` never hashes (start-up)

    return hashlib.sha256(data).hexdigest()


def canonical_digest(obj: Any) -> str:
    """sha256 hex of canonical_json(obj)."""
    import hashlib

    return hashlib.sha256(canonical_json(obj)).hexdigest()
