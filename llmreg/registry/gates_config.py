"""Registry-wide gate settings (gates.yaml): thresholds, fairness bound, canary SLO, approvals.

Precedence for the eval threshold: the suite definition, then the entry's own `gates:` block,
then the threshold recorded with the eval, then this file (per-suite before the global one).
For the fairness bound: the entry's `gates:` block, then the registered suite's
`fairness.max_gap`, then this file, then the built-in default (0.1). For the canary SLO: the
entry's `gates:` block, then this file. An entry may set
eval_threshold, fairness_max_gap and canary_slo; how many production approvals are needed and
the archival checklist are registry policy: here, as floors under the per-name approval policy
(`llmreg policy set`, handlers/policy.py), which may ask for more.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from .canonical import canonical_digest
from .fields import (
    EMPTY,
    as_int,
    as_mapping,
    as_number,
    as_str,
    check_keys,
    fail,
    show,
    type_name,
    under,
)

TYPE_CHECKING = False  # the idiom that keeps `typing` out of run-time imports
if TYPE_CHECKING:
    from typing import Any

DEFAULT_SLO: Mapping[str, float | int] = MappingProxyType({"max_error_rate": 0.02, "max_p99_ms": 2000.0, "min_calls": 100})
SLO_KEYS = ("max_error_rate", "max_p99_ms", "min_calls", "min_eval_score")
ENTRY_GATE_KEYS = ("eval_threshold", "fairness_max_gap", "canary_slo")
CONFIG_KEYS = ("eval_threshold", "suite_thresholds", "fairness_max_gap", "canary_slo", "required_production_approvals", "archive_checklist")
MIN_PRODUCTION_APPROVALS = 2  # two distinct approvers, neither the author: not configurable below
DEFAULT_FAIRNESS_MAX_GAP = 0.1


def suite_fairness_max_gap(definition: Any, *, strict: bool = False, where: str = "definition") -> float | None:
    """A suite definition's `fairness: {max_gap: X}` (the evals/suites YAML shape), or None.

    strict=True (registering a suite) refuses a malformed bound; reading a stored definition
    ignores one, so the next bound in line applies.
    """
    fairness = definition.get("fairness") if isinstance(definition, Mapping) else None
    if fairness is None:
        return None
    if not isinstance(fairness, Mapping):
        if strict:
            fail(f"{where}.fairness", f"expected a mapping such as {{max_gap: 0.1}}, got {type_name(fairness)} {show(fairness)}")
        return None
    value = fairness.get("max_gap")
    if value is None:
        return None
    if strict:
        return as_number(value, f"{where}.fairness.max_gap", lo=0.0, hi=1.0)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        return None
    return float(value)


def _check_slo(value: Any, where: str) -> dict[str, float | int]:
    data = as_mapping(value, where)
    check_keys(data, SLO_KEYS, where=where)
    out: dict[str, float | int] = {}
    if data.get("max_error_rate") is not None:
        out["max_error_rate"] = as_number(data["max_error_rate"], f"{where}.max_error_rate", lo=0.0, hi=1.0)
    if data.get("max_p99_ms") is not None:
        out["max_p99_ms"] = as_number(data["max_p99_ms"], f"{where}.max_p99_ms", lo=0.0)
        if out["max_p99_ms"] <= 0:
            fail(f"{where}.max_p99_ms", "must be above 0 milliseconds")
    if data.get("min_calls") is not None:
        out["min_calls"] = as_int(data["min_calls"], f"{where}.min_calls", lo=1)
    if data.get("min_eval_score") is not None:
        out["min_eval_score"] = as_number(data["min_eval_score"], f"{where}.min_eval_score", lo=0.0, hi=1.0)
    return out


def validate_entry_gates(value: Mapping[str, Any], where: str = "gates") -> dict[str, Any]:
    """Check an entry's `gates:` block; returns the normalised plain dict."""
    for key in ("required_production_approvals", "archive_checklist", "suite_thresholds"):
        if key in value:
            fail(f"{where}.{key}", f"is registry policy, not per entry; set {key} in gates.yaml and load it with `llmreg gates set gates.yaml`")
    check_keys(value, ENTRY_GATE_KEYS, where=where)
    out: dict[str, Any] = {}
    if value.get("eval_threshold") is not None:
        out["eval_threshold"] = as_number(value["eval_threshold"], f"{where}.eval_threshold", lo=0.0, hi=1.0)
    if value.get("fairness_max_gap") is not None:
        out["fairness_max_gap"] = as_number(value["fairness_max_gap"], f"{where}.fairness_max_gap", lo=0.0, hi=1.0)
    if value.get("canary_slo") is not None:
        slo = _check_slo(value["canary_slo"], f"{where}.canary_slo")
        if slo:
            out["canary_slo"] = slo
    return out


@dataclass(frozen=True, slots=True)
class GatesConfig:
    eval_threshold: float | None = None
    suite_thresholds: Mapping[str, float] = field(default_factory=lambda: EMPTY)
    # None = not set in gates.yaml: reads back as DEFAULT_FAIRNESS_MAX_GAP, and fairness_configured
    # stays False so the gate credits the built-in default, not a gates file nobody wrote.
    fairness_max_gap: float | None = None
    canary_slo: Mapping[str, float | int] = field(default_factory=lambda: DEFAULT_SLO)
    required_production_approvals: int = MIN_PRODUCTION_APPROVALS
    archive_checklist: tuple[str, ...] = ()
    fairness_configured: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "eval_threshold", as_number(self.eval_threshold, "eval_threshold", lo=0.0, hi=1.0, optional=True))
        thresholds = {}
        for suite, value in as_mapping(self.suite_thresholds, "suite_thresholds").items():
            as_str(suite, "suite_thresholds", max_len=200)
            thresholds[suite] = as_number(value, f"suite_thresholds.{suite}", lo=0.0, hi=1.0)
        set_(self, "suite_thresholds", MappingProxyType(thresholds) if thresholds else EMPTY)
        set_(self, "fairness_configured", self.fairness_max_gap is not None)
        gap = as_number(self.fairness_max_gap, "fairness_max_gap", lo=0.0, hi=1.0, optional=True)
        set_(self, "fairness_max_gap", DEFAULT_FAIRNESS_MAX_GAP if gap is None else gap)
        slo = dict(DEFAULT_SLO)
        slo.update(_check_slo(self.canary_slo, "canary_slo"))
        set_(self, "canary_slo", MappingProxyType(slo))
        approvals = as_int(self.required_production_approvals, "required_production_approvals")
        if approvals < MIN_PRODUCTION_APPROVALS:
            fail("required_production_approvals", f"{approvals} is below {MIN_PRODUCTION_APPROVALS}: production needs two distinct approvers, neither the author")
        checklist = self.archive_checklist
        if isinstance(checklist, str) or not isinstance(checklist, (list, tuple)):
            fail("archive_checklist", f"expected a list of checklist item names, got {type_name(checklist)} {show(checklist)}")
        items = tuple(as_str(item, f"archive_checklist[{i}]", max_len=200) for i, item in enumerate(checklist))
        if len(set(items)) != len(items):
            fail("archive_checklist", "lists an item twice; keep each once")
        set_(self, "archive_checklist", items)

    def __hash__(self) -> int:
        return hash(canonical_digest(self.to_dict()))

    # -- lookups -------------------------------------------------------------

    def config_threshold(self, suite: str | None) -> tuple[float | None, str]:
        """(threshold, where it came from) from this file: per-suite first, then global."""
        if suite is not None and suite in self.suite_thresholds:
            return self.suite_thresholds[suite], f"gates.yaml suite_thresholds.{suite}"
        if self.eval_threshold is not None:
            return self.eval_threshold, "gates.yaml eval_threshold"
        return None, ""

    def fairness_bound(self, entry_gates: Mapping[str, Any] = EMPTY, suite_max_gap: float | None = None,
                       suite_ref: str | None = None) -> tuple[float, str]:
        """(bound, where it came from). The registry's bound (suite definition, else gates.yaml,
        else the built-in default) is a floor: an entry's own bound counts only when tighter."""
        if suite_max_gap is not None:
            gap, source = float(suite_max_gap), f"suite {suite_ref or 'definition'} fairness.max_gap"
        else:
            gap = DEFAULT_FAIRNESS_MAX_GAP if self.fairness_max_gap is None else self.fairness_max_gap
            source = "gates.yaml fairness_max_gap" if self.fairness_configured else "built-in default"
        own = entry_gates.get("fairness_max_gap")
        if own is not None and float(own) < gap:
            return float(own), "entry gates.fairness_max_gap"
        return gap, source

    def slo_bounds(self, entry_gates: Mapping[str, Any] = EMPTY) -> dict[str, float | int]:
        """The canary SLO: this file's bounds (over the defaults) are a floor; an entry's own bound
        replaces one only when it is stricter."""
        bounds = dict(self.canary_slo)
        for key, value in (entry_gates.get("canary_slo") or {}).items():
            floor = bounds.get(key)
            if floor is None or (value < floor if key.startswith("max_") else value > floor):
                bounds[key] = value
        return bounds

    def looser_than_floor(self, entry_gates: Mapping[str, Any], threshold_floor: tuple[float | None, str] = (None, ""),
                          suite_max_gap: float | None = None) -> tuple[str, str] | None:
        """(field, message) for the first entry gate that loosens the registry's policy, else None."""
        own = entry_gates.get("eval_threshold")
        floor, source = threshold_floor
        if own is not None and floor is not None and float(own) < floor:
            return "gates.eval_threshold", f"{own:g} is below the registry's floor {floor:g} ({source})"
        gap, source = self.fairness_bound(EMPTY, suite_max_gap)
        own = entry_gates.get("fairness_max_gap")
        if own is not None and float(own) > gap:
            return "gates.fairness_max_gap", f"{own:g} is above the registry's floor {gap:g} ({source})"
        for key, value in (entry_gates.get("canary_slo") or {}).items():
            floor = self.canary_slo.get(key)
            if floor is not None and (value > floor if key.startswith("max_") else value < floor):
                word = "above" if key.startswith("max_") else "below"
                return f"gates.canary_slo.{key}", f"{value:g} is {word} the registry's floor {floor:g} (gates.yaml)"
        return None

    # -- (de)serialisation ---------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "canary_slo": dict(self.canary_slo),
            "required_production_approvals": self.required_production_approvals,
        }
        if self.fairness_configured:
            out["fairness_max_gap"] = self.fairness_max_gap
        if self.eval_threshold is not None:
            out["eval_threshold"] = self.eval_threshold
        if self.suite_thresholds:
            out["suite_thresholds"] = dict(self.suite_thresholds)
        if self.archive_checklist:
            out["archive_checklist"] = list(self.archive_checklist)
        return out

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "<input>") -> "GatesConfig":
        if data is None:
            return cls()
        with under(source, file=True):
            if not isinstance(data, Mapping):
                fail("gates", f"expected a mapping of gate settings, got {type_name(data)}")
            check_keys(data, CONFIG_KEYS)
            kwargs = {key: value for key, value in data.items() if value is not None}
            return cls(**kwargs)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> "GatesConfig":
        from .documents import read_document

        source = os.fspath(path)
        return cls.from_dict(read_document(source, "gates"), source=source)

