"""Safety policies: versioned YAML lists of banned words/patterns and refusal markers."""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.schema import (
    Field,
    SchemaError,
    canonical_digest,
    check_mapping,
    read_yaml_mapping,
    semver,
)


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


_POLICY = {
    "name": Field("str", "add name: <policy name>"),
    "version": Field("str", "set version: X.Y.Z (quote it in YAML)", check=semver),
    "description": Field("str", "describe the policy in one line", required=False),
    "banned_words": Field("str_list", "list whole words that must not appear", required=False),
    "banned_patterns": Field("str_list", "list regular expressions that must not match", required=False),
    "refusal_markers": Field("str_list", "list phrases that mark a refusal", required=False),
}


def load_policy(path: str | Path) -> SafetyPolicy:
    path = Path(path)
    return parse_policy(read_yaml_mapping(path, PolicyError), source=str(path))


def parse_policy(data: dict[str, Any], *, source: str = "<policy>") -> SafetyPolicy:
    top = check_mapping(data, _POLICY, source=source, where="", error=PolicyError)
    for i, pattern in enumerate(top.get("banned_patterns", ())):
        try:
            re.compile(pattern)
        except re.error as exc:
            raise PolicyError(
                f"{source}: field banned_patterns[{i}] {pattern!r} is not a valid regex "
                f"({exc}): fix or remove it"
            ) from None
    if not any(top.get(k) for k in ("banned_words", "banned_patterns")):
        raise PolicyError(
            f"{source}: field banned_words is missing: a policy needs banned_words or banned_patterns"
        )
    return SafetyPolicy(
        name=top["name"],
        version=top["version"],
        description=top.get("description", ""),
        banned_words=tuple(top.get("banned_words", ())),
        banned_patterns=tuple(top.get("banned_patterns", ())),
        refusal_markers=tuple(top.get("refusal_markers", ())),
    )
