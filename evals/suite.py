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

from evals.schema import (
    Field,
    SchemaError,
    canonical_digest,
    check_mapping,
    non_negative,
    positive,
    read_yaml_mapping,
    semver,
    sha256_hex,
    unit_interval,
)
from llmreg.registry.prompts import PromptError, PromptTemplate, load_prompt


class SuiteError(SchemaError):
    """A suite file is malformed, or changed without a version bump."""


# Metrics a suite may list; a check needs its metric listed (see _check_metric_needs).
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
    sha256: str  # of the template text, as registry.prompts computes it


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
            raise SuiteError(f"{self.source}: prompt.path: {exc}") from None
        if template.ref != self.prompt.ref:
            raise SuiteError(
                f"{self.source}: field prompt.ref is {self.prompt.ref!r} but {path} holds "
                f"{template.ref!r}: point prompt.path at the pinned template or update "
                "prompt.ref and bump the suite version"
            )
        if template.sha256 != self.prompt.sha256:
            raise SuiteError(
                f"{self.source}: field prompt.sha256 does not match {path} "
                f"(file has {template.sha256}): the template changed; pin the new sha256 "
                "and bump the suite version"
            )
        if self.dataset.input_column not in template.variables:
            raise SuiteError(
                f"{self.source}: field dataset.input_column {self.dataset.input_column!r} "
                f"is not a variable of {template.ref} (it has {list(template.variables)}): "
                "name the column the template fills"
            )
        return template


def check_recorded(suite: Suite, *, recorded_version: str, recorded_digest: str) -> None:
    """Fail when the suite's content changed but its version did not.

    `recorded_*` come from an earlier report (or the registry entry it certified).
    """
    if suite.version == recorded_version and suite.digest != recorded_digest:
        raise SuiteError(
            f"{suite.source or suite.name}: suite {suite.name} changed since version "
            f"{recorded_version} was recorded (digest {recorded_digest[:12]} -> "
            f"{suite.digest[:12]}) but its version did not: bump version"
        )


_TOP = {
    "name": Field("str", "add name: <suite name>"),
    "version": Field("str", "set version: X.Y.Z (quote it in YAML)", check=semver),
    "description": Field("str", "describe the suite in one line", required=False),
    "dataset": Field("mapping", "add dataset: {path, input_column, label_column}"),
    "prompt": Field("mapping", "add prompt: {path, ref, sha256}"),
    "metrics": Field("str_list", f"list metrics from {', '.join(KNOWN_METRICS)}"),
    "threshold": Field(
        "number", "add threshold: <pass mark on overall accuracy, 0..1>", check=unit_interval
    ),
    "segments": Field("mapping", "add segments: {column: <segment column>}", required=False),
    "fairness": Field("mapping", "add fairness: {max_gap: <0..1>}", required=False),
    "budgets": Field(
        "mapping", "add budgets: {latency_p99_ms: <ms>, cost_per_1k_usd: <usd>}", required=False
    ),
    "safety": Field("mapping", "add safety: {policy: <policy yaml path>}", required=False),
    "pricing": Field(
        "mapping",
        "add pricing: {prompt_usd_per_1k_tokens: <usd>, completion_usd_per_1k_tokens: <usd>}",
        required=False,
    ),
}
_DATASET = {
    "path": Field("str", "set the path of the versioned eval split, e.g. data/splits/eval.parquet"),
    "input_column": Field("str", "name the column that fills the prompt"),
    "label_column": Field("str", "name the column holding the gold label"),
    "id_column": Field("str", "name the row id column", required=False),
    "labels": Field("str_list", "list the allowed labels", required=False),
}
_PROMPT = {
    "path": Field("str", "set the prompt template path, e.g. prompts/triage-prompt.yaml"),
    "ref": Field("str", "set ref: <name>@<version> of the template"),
    "sha256": Field("str", "set the template's sha256 (64 hex)", check=sha256_hex),
}
_SEGMENTS = {"column": Field("str", "name the column that holds each row's segment")}
_FAIRNESS = {
    "max_gap": Field(
        "number", "set max_gap: <largest allowed segment accuracy gap, 0..1>", check=unit_interval
    )
}
_BUDGETS = {
    "latency_p99_ms": Field("number", "set a p99 latency budget in ms", False, positive),
    "cost_per_1k_usd": Field("number", "set a USD budget per 1,000 examples", False, non_negative),
}
_SAFETY = {
    "policy": Field("str", "set policy: <path of a safety policy yaml>"),
    "max_violation_rate": Field(
        "number", "set the largest allowed violation rate, 0..1", False, unit_interval
    ),
}
_PRICING = {
    "prompt_usd_per_1k_tokens": Field("number", "set USD per 1k prompt tokens", False, non_negative),
    "completion_usd_per_1k_tokens": Field(
        "number", "set USD per 1k completion tokens", False, non_negative
    ),
}


def load_suite(path: str | Path) -> Suite:
    """Read and strictly validate a suite file; raise SuiteError with one actionable line."""
    path = Path(path)
    data = read_yaml_mapping(path, SuiteError)
    return parse_suite(data, source=str(path))


def parse_suite(data: dict[str, Any], *, source: str = "<suite>") -> Suite:
    def section(key: str, spec: dict[str, Field]) -> dict[str, Any]:
        return check_mapping(data.get(key) or {}, spec, source=source, where=key, error=SuiteError)

    top = check_mapping(data, _TOP, source=source, where="", error=SuiteError)
    dataset = section("dataset", _DATASET)
    prompt = section("prompt", _PROMPT)
    segments = section("segments", _SEGMENTS) if "segments" in top else None
    fairness = section("fairness", _FAIRNESS) if "fairness" in top else None
    budgets = section("budgets", _BUDGETS)
    safety = section("safety", _SAFETY) if "safety" in top else None
    pricing = section("pricing", _PRICING)

    metrics = tuple(top["metrics"])
    for metric in metrics:
        if metric not in KNOWN_METRICS:
            raise SuiteError(
                f"{source}: field metrics has unknown metric {metric!r}: use one of "
                f"{', '.join(KNOWN_METRICS)}"
            )
    if len(set(metrics)) != len(metrics):
        raise SuiteError(f"{source}: field metrics lists a metric twice: list each once")
    if fairness is not None and segments is None:
        raise SuiteError(
            f"{source}: field segments is missing: fairness needs segments: {{column: ...}}"
        )
    _check_metric_needs(source, metrics, segments, fairness, budgets, safety, pricing)

    return Suite(
        name=top["name"],
        version=top["version"],
        description=top.get("description", ""),
        dataset=DatasetRef(
            path=dataset["path"],
            input_column=dataset["input_column"],
            label_column=dataset["label_column"],
            id_column=dataset.get("id_column"),
            labels=tuple(dataset.get("labels", ())),
        ),
        prompt=PromptRef(path=prompt["path"], ref=prompt["ref"], sha256=prompt["sha256"]),
        metrics=metrics,
        threshold=float(top["threshold"]),
        segment_column=segments["column"] if segments else None,
        fairness_max_gap=float(fairness["max_gap"]) if fairness else None,
        budgets=Budgets(
            latency_p99_ms=_opt_float(budgets.get("latency_p99_ms")),
            cost_per_1k_usd=_opt_float(budgets.get("cost_per_1k_usd")),
        ),
        safety=SafetyRef(
            policy=safety["policy"],
            max_violation_rate=float(safety.get("max_violation_rate", 0.0)),
        )
        if safety
        else None,
        pricing=Pricing(
            prompt_usd_per_1k_tokens=float(pricing.get("prompt_usd_per_1k_tokens", 0.0)),
            completion_usd_per_1k_tokens=float(pricing.get("completion_usd_per_1k_tokens", 0.0)),
        ),
        source=source,
    )


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _check_metric_needs(source, metrics, segments, fairness, budgets, safety, pricing) -> None:
    """Every pass rule must be backed by a listed metric, so the report always shows it."""
    needs = [
        (True, "accuracy", "threshold applies to accuracy"),
        (segments is not None, "segment_accuracy", "segments is set"),
        (fairness is not None, "fairness_gap", "fairness is set"),
        (safety is not None, "safety_violation_rate", "safety is set"),
        ("latency_p99_ms" in budgets, "latency", "budgets.latency_p99_ms is set"),
        ("cost_per_1k_usd" in budgets or bool(pricing), "cost", "a cost budget or pricing is set"),
    ]
    for needed, metric, why in needs:
        if needed and metric not in metrics:
            raise SuiteError(
                f"{source}: field metrics must list {metric!r} because {why}: add it"
            )
