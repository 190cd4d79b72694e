"""The eval suite file as a pydantic model, and its conversion to `evals.suite.Suite`.

Imported by `load_suite`/`parse_suite` only (pydantic stays out of code that uses a suite).
Each field's description is the fix printed when it is wrong.
"""
from __future__ import annotations

from typing import Any

from pydantic import Field

from evals.config_fields import (
    NonNegative,
    Positive,
    SemVer,
    Sha256Hex,
    Text,
    TextList,
    UnitInterval,
    fail,
    load,
    validate,
)
from evals.suite import (
    KNOWN_METRICS,
    Budgets,
    DatasetRef,
    Pricing,
    PromptRef,
    SafetyRef,
    Suite,
    SuiteError,
)
from llmreg.registry.config_models import ConfigModel


class DatasetSection(ConfigModel):
    path: Text = Field(description="set the path of the versioned eval split, e.g. data/splits/eval.parquet")
    input_column: Text = Field(description="name the column that fills the prompt")
    label_column: Text = Field(description="name the column holding the gold label")
    id_column: Text | None = Field(None, description="name the row id column")
    labels: TextList | None = Field(None, description="list the allowed labels")


class PromptSection(ConfigModel):
    path: Text = Field(description="set the prompt template path, e.g. prompts/triage-prompt.yaml")
    ref: Text = Field(description="set ref: <name>@<version> of the template")
    sha256: Sha256Hex = Field(description="set the template's sha256 (64 hex)")


class SegmentsSection(ConfigModel):
    column: Text = Field(description="name the column that holds each row's segment")


class FairnessSection(ConfigModel):
    max_gap: UnitInterval = Field(description="set max_gap: <largest allowed segment accuracy gap, 0..1>")


class BudgetsSection(ConfigModel):
    latency_p99_ms: Positive | None = Field(None, description="set a p99 latency budget in ms")
    cost_per_1k_usd: NonNegative | None = Field(None, description="set a USD budget per 1,000 examples")


class SafetySection(ConfigModel):
    policy: Text = Field(description="set policy: <path of a safety policy yaml>")
    max_violation_rate: UnitInterval | None = Field(None, description="set the largest allowed violation rate, 0..1")


class PricingSection(ConfigModel):
    prompt_usd_per_1k_tokens: NonNegative | None = Field(None, description="set USD per 1k prompt tokens")
    completion_usd_per_1k_tokens: NonNegative | None = Field(None, description="set USD per 1k completion tokens")


class SuiteDocument(ConfigModel):
    name: Text = Field(description="add name: <suite name>")
    version: SemVer = Field(description="set version: X.Y.Z (quote it in YAML)")
    description: Text | None = Field(None, description="describe the suite in one line")
    dataset: DatasetSection = Field(description="add dataset: {path, input_column, label_column}")
    prompt: PromptSection = Field(description="add prompt: {path, ref, sha256}")
    metrics: TextList = Field(description=f"list metrics from {', '.join(KNOWN_METRICS)}")
    threshold: UnitInterval = Field(description="add threshold: <pass mark on overall accuracy, 0..1>")
    segments: SegmentsSection | None = Field(None, description="add segments: {column: <segment column>}")
    fairness: FairnessSection | None = Field(None, description="add fairness: {max_gap: <0..1>}")
    budgets: BudgetsSection | None = Field(
        None, description="add budgets: {latency_p99_ms: <ms>, cost_per_1k_usd: <usd>}")
    safety: SafetySection | None = Field(None, description="add safety: {policy: <policy yaml path>}")
    pricing: PricingSection | None = Field(
        None, description="add pricing: {prompt_usd_per_1k_tokens: <usd>, completion_usd_per_1k_tokens: <usd>}")


def load_suite_file(path: str) -> Suite:
    return to_suite(load(path, SuiteDocument, what="suite", error=SuiteError), source=path)


def parse_suite_data(data: Any, source: str) -> Suite:
    return to_suite(validate(SuiteDocument, data, source=source, error=SuiteError), source=source)


def to_suite(doc: SuiteDocument, *, source: str) -> Suite:
    _check_metrics(doc, source)
    budgets = doc.budgets or BudgetsSection()
    pricing = doc.pricing or PricingSection()
    return Suite(
        name=doc.name,
        version=doc.version,
        description=doc.description or "",
        dataset=DatasetRef(path=doc.dataset.path, input_column=doc.dataset.input_column,
                           label_column=doc.dataset.label_column, id_column=doc.dataset.id_column,
                           labels=tuple(doc.dataset.labels or ())),
        prompt=PromptRef(path=doc.prompt.path, ref=doc.prompt.ref, sha256=doc.prompt.sha256),
        metrics=tuple(doc.metrics),
        threshold=float(doc.threshold),
        segment_column=doc.segments.column if doc.segments else None,
        fairness_max_gap=float(doc.fairness.max_gap) if doc.fairness else None,
        budgets=Budgets(latency_p99_ms=_opt_float(budgets.latency_p99_ms),
                        cost_per_1k_usd=_opt_float(budgets.cost_per_1k_usd)),
        safety=SafetyRef(policy=doc.safety.policy, max_violation_rate=float(doc.safety.max_violation_rate or 0.0))
        if doc.safety else None,
        pricing=Pricing(prompt_usd_per_1k_tokens=float(pricing.prompt_usd_per_1k_tokens or 0.0),
                        completion_usd_per_1k_tokens=float(pricing.completion_usd_per_1k_tokens or 0.0)),
        source=source,
    )


def _opt_float(value: float | None) -> float | None:
    return None if value is None else float(value)


def _check_metrics(doc: SuiteDocument, source: str) -> None:
    """Metrics are known and listed once, and every pass rule is backed by a listed metric, so
    the report always shows it."""
    for metric in doc.metrics:
        if metric not in KNOWN_METRICS:
            fail(SuiteError, source, "metrics", f"unknown metric {metric!r}; use one of {', '.join(KNOWN_METRICS)}")
    if len(set(doc.metrics)) != len(doc.metrics):
        fail(SuiteError, source, "metrics", "lists a metric twice; list each once")
    if doc.fairness is not None and doc.segments is None:
        fail(SuiteError, source, "segments", "required because fairness is set; fairness needs segments: {column: ...}")
    budgets = doc.budgets or BudgetsSection()
    priced = doc.pricing is not None and any(v is not None for v in doc.pricing.model_dump().values())
    needs = [
        (True, "accuracy", "threshold applies to accuracy"),
        (doc.segments is not None, "segment_accuracy", "segments is set"),
        (doc.fairness is not None, "fairness_gap", "fairness is set"),
        (doc.safety is not None, "safety_violation_rate", "safety is set"),
        (budgets.latency_p99_ms is not None, "latency", "budgets.latency_p99_ms is set"),
        (budgets.cost_per_1k_usd is not None or priced, "cost", "a cost budget or pricing is set"),
    ]
    for needed, metric, why in needs:
        if needed and metric not in doc.metrics:
            fail(SuiteError, source, "metrics", f"must list {metric!r} because {why}; add it")
