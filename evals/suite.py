"""Eval suites: versioned YAML data naming a dataset, a prompt, metrics and pass rules.

A suite certifies releases, so it is pinned like one: a semantic `version`, and a
`digest` of its canonical content. Editing a suite without bumping the version is caught
by `check_recorded` against the digest a previous report recorded.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.schema import SchemaError, canonical_digest
from llmreg.registry.prompts import PromptError, PromptTemplate, load_prompt


class SuiteError(SchemaError):
    """A suite file is malformed, or changed without a version bump."""


# Metrics a suite may list; a check needs its metric listed (see suite_document._check_metrics).
KNOWN_METRICS = (
    "accuracy",
    "segment_accuracy",
    "fairness_gap",
    "safety_violation_rate",
    "latency",
    "tokens",
    "cost",
)


@dataclass(frozen=True)
class DatasetRef:
    path: str
    input_column: str
    label_column: str
    id_column: str | None = None
    labels: tuple[str, ...] = ()  # the closed label set, if the task has one


@dataclass(frozen=True)
class PromptRef:
    path: str
    ref: str  # name@version, e.g. triage-prompt@v1
    sha256: str  # of the template text, as llmreg.registry.prompts computes it


@dataclass(frozen=True)
class Budgets:
    latency_p99_ms: float | None = None
    cost_per_1k_usd: float | None = None  # USD per 1,000 evaluated examples


@dataclass(frozen=True)
class Pricing:
    """Price per 1,000 tokens; a runner config may override the suite's."""

    prompt_usd_per_1k_tokens: float = 0.0
    completion_usd_per_1k_tokens: float = 0.0


@dataclass(frozen=True)
class SafetyRef:
    policy: str
    max_violation_rate: float = 0.0


@dataclass(frozen=True)
class Suite:
    name: str
    version: str
    dataset: DatasetRef
    prompt: PromptRef
    metrics: tuple[str, ...]
    threshold: float
    segment_column: str | None = None
    fairness_max_gap: float | None = None
    budgets: Budgets = Budgets()
    safety: SafetyRef | None = None
    pricing: Pricing = Pricing()
    description: str = ""
    source: str = dataclasses.field(default="", compare=False)

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def canonical(self) -> dict[str, Any]:
        """The content the digest covers: everything but where the file was read from."""
        content = dataclasses.asdict(self)
        content.pop("source")
        return content

    @property
    def digest(self) -> str:
        return canonical_digest(self.canonical())

    def load_prompt(self, root: str | Path = ".") -> PromptTemplate:
        """Load the pinned prompt template and verify it is the one the suite names."""
        path = Path(root) / self.prompt.path
        try:
            template = load_prompt(path)
        except PromptError as exc:
            raise SuiteError(f"{self.source}: prompt.path: {exc}", field="prompt.path") from None
        if template.ref != self.prompt.ref:
            raise SuiteError(
                f"{self.source}: prompt.ref: is {self.prompt.ref!r} but {path} holds {template.ref!r}; "
                "point prompt.path at the pinned template or update prompt.ref and bump the suite version",
                field="prompt.ref")
        if template.sha256 != self.prompt.sha256:
            raise SuiteError(
                f"{self.source}: prompt.sha256: does not match {path} (file has {template.sha256}); "
                "the template changed: pin the new sha256 and bump the suite version", field="prompt.sha256")
        if self.dataset.input_column not in template.variables:
            raise SuiteError(
                f"{self.source}: dataset.input_column: {self.dataset.input_column!r} is not a variable of "
                f"{template.ref} (it has {list(template.variables)}); name the column the template fills",
                field="dataset.input_column")
        return template


def check_recorded(suite: Suite, *, recorded_version: str, recorded_digest: str) -> None:
    """Fail when the suite's content changed but its version did not.

    `recorded_*` come from an earlier report (or the registry entry it certified).
    """
    if suite.version == recorded_version and suite.digest != recorded_digest:
        raise SuiteError(
            f"{suite.source or suite.name}: suite {suite.name} changed since version "
            f"{recorded_version} was recorded (digest {recorded_digest[:12]} -> "
            f"{suite.digest[:12]}) but its version did not; bump version", field="version")


def load_suite(path: str | Path) -> Suite:
    """Read and strictly validate a suite file; raise SuiteError with one actionable line."""
    from evals.suite_document import load_suite_file

    return load_suite_file(str(path))


def parse_suite(data: dict[str, Any], *, source: str = "<suite>") -> Suite:
    """Validate already-loaded suite data (a mapping) the same way."""
    from evals.suite_document import parse_suite_data

    return parse_suite_data(data, source)
