"""What every evals document shares without pydantic: the error type and the content digest.

Suites, safety policies and providers.yaml are data that gate promotions, so a typo must not
silently become a default: their loaders (`config_fields.py` and the `*_document.py` modules)
refuse unknown, missing and mistyped fields with one line naming the file, the field and the
fix. Code that only uses a loaded document imports this module, never pydantic.
"""
from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from llmreg.registry.errors import BadInput

SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")


class SchemaError(BadInput, ValueError):
    """A document does not match its schema (subclassed per document kind). Bad input (exit 2)
    to the CLI; still a ValueError for the callers that record a failed run instead."""


def canonical_digest(content: Any) -> str:
    """sha256 of canonical JSON: key order, whitespace and YAML comments do not matter."""
    blob = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()
