"""The safety policy file as a pydantic model, and its conversion to `evals.policy.SafetyPolicy`.

Imported by `load_policy`/`parse_policy` only; each field's description is its fix.
"""
from __future__ import annotations

from typing import Any

from pydantic import Field

from evals.config_fields import Regex, SemVer, Text, TextList, fail, load, validate
from evals.policy import PolicyError, SafetyPolicy
from llmreg.registry.config_models import ConfigModel


class PolicyDocument(ConfigModel):
    name: Text = Field(description="add name: <policy name>")
    version: SemVer = Field(description="set version: X.Y.Z (quote it in YAML)")
    description: Text | None = Field(None, description="describe the policy in one line")
    banned_words: TextList | None = Field(None, description="list whole words that must not appear")
    banned_patterns: list[Regex] | None = Field(None, description="fix or remove the pattern")
    refusal_markers: TextList | None = Field(None, description="list phrases that mark a refusal")


def load_policy_file(path: str) -> SafetyPolicy:
    return to_policy(load(path, PolicyDocument, what="safety policy", error=PolicyError), source=path)


def parse_policy_data(data: Any, source: str) -> SafetyPolicy:
    return to_policy(validate(PolicyDocument, data, source=source, error=PolicyError), source=source)


def to_policy(doc: PolicyDocument, *, source: str) -> SafetyPolicy:
    if not (doc.banned_words or doc.banned_patterns):
        fail(PolicyError, source, "banned_words", "required: a policy needs banned_words or banned_patterns; "
             "list what must not appear")
    return SafetyPolicy(name=doc.name, version=doc.version, description=doc.description or "",
                        banned_words=tuple(doc.banned_words or ()), banned_patterns=tuple(doc.banned_patterns or ()),
                        refusal_markers=tuple(doc.refusal_markers or ()))
