"""Safety policies: versioned YAML lists of banned words/patterns and refusal markers."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.schema import SchemaError, canonical_digest


class PolicyError(SchemaError):
    """A safety policy file is malformed."""


@dataclass(frozen=True)
class SafetyPolicy:
    name: str
    version: str
    banned_words: tuple[str, ...] = ()
    banned_patterns: tuple[str, ...] = ()
    refusal_markers: tuple[str, ...] = ()
    description: str = ""

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def digest(self) -> str:
        return canonical_digest(dataclasses.asdict(self))


def load_policy(path: str | Path) -> SafetyPolicy:
    """Read and strictly validate a policy file; raise PolicyError with one actionable line."""
    from evals.policy_document import load_policy_file

    return load_policy_file(str(path))


def parse_policy(data: dict[str, Any], *, source: str = "<policy>") -> SafetyPolicy:
    from evals.policy_document import parse_policy_data

    return parse_policy_data(data, source)
