"""Strict checking of YAML mappings: unknown field, wrong type or missing field is one line.

Suites and safety policies are data that gate promotions, so a typo must not silently
become a default. Every error names the file, the dotted field and how to fix it.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import yaml

SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")


class SchemaError(ValueError):
    """A YAML document does not match its schema (subclassed per document kind)."""


@dataclass(frozen=True)
class Field:
    """One allowed key: its type check, whether it is required, and the fix to print."""

    kind: str  # "str" | "number" | "str_list" | "mapping"
    fix: str
    required: bool = True
    check: Callable[[Any], str | None] | None = None  # returns a problem or None


def read_yaml_mapping(path: Path, error: type[SchemaError]) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise error(f"{path}: cannot read file: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise error(f"{path}: not valid YAML ({first}): fix the syntax") from None
    if not isinstance(data, dict):
        raise error(f"{path}: expected a YAML mapping at the top level")
    return data


def _type_ok(kind: str, value: Any) -> bool:
    if kind == "str":
        return isinstance(value, str) and value.strip() != ""
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "str_list":
        return isinstance(value, list) and all(isinstance(v, str) and v for v in value)
    if kind == "mapping":
        return isinstance(value, dict)
    raise AssertionError(f"unknown field kind {kind}")


_KIND_WORDS = {
    "str": "a non-empty string",
    "number": "a number",
    "str_list": "a list of non-empty strings",
    "mapping": "a mapping",
}


def check_mapping(
    data: dict[str, Any],
    spec: dict[str, Field],
    *,
    source: Path | str,
    where: str,
    error: type[SchemaError],
) -> dict[str, Any]:
    """Validate `data` against `spec`; return only the keys present (no defaults added)."""
    prefix = f"{where}." if where else ""
    unknown = sorted(set(data) - set(spec))
    if unknown:
        raise error(
            f"{source}: unknown field {prefix}{unknown[0]}: remove it "
            f"(allowed: {', '.join(sorted(spec))})"
        )
    for key, field in spec.items():
        name = f"{prefix}{key}"
        if key not in data or data[key] is None:
            if field.required:
                raise error(f"{source}: field {name} is missing: {field.fix}")
            continue
        value = data[key]
        if not _type_ok(field.kind, value):
            raise error(
                f"{source}: field {name} must be {_KIND_WORDS[field.kind]}, "
                f"got {type(value).__name__} {value!r}: {field.fix}"
            )
        if field.check is not None:
            problem = field.check(value)
            if problem:
                raise error(f"{source}: field {name} {problem}: {field.fix}")
    return {k: v for k, v in data.items() if v is not None}


def semver(value: str) -> str | None:
    return None if SEMVER.match(value) else f"is {value!r}, not a semantic version X.Y.Z"


def unit_interval(value: float) -> str | None:
    return None if 0.0 <= value <= 1.0 else f"is {value}, outside [0, 1]"


def positive(value: float) -> str | None:
    return None if value > 0 else f"is {value}, not > 0"


def non_negative(value: float) -> str | None:
    return None if value >= 0 else f"is {value}, not >= 0"


def sha256_hex(value: str) -> str | None:
    return None if SHA256.match(value) else "is not 64 lowercase hex characters"


def canonical_digest(content: Any) -> str:
    """sha256 of canonical JSON: key order, whitespace and YAML comments do not matter."""
    blob = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()
