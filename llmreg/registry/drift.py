"""Drift after release: judge a production version's fresh measurements against the
baseline it was certified on. Pure: the caller brings the numbers (a scheduled re-evaluation
against the version's suite; the gateway's per-call log over a window) and records a
`version.flagged` event when the verdict flags. Rollback stays a human or SLO-guard decision
unless the rule's action is `rollback`.

    verdict = judge(DriftRule(max_error_rate=0.02), Baseline(score=0.91, tolerance=0.03),
                    Observed(score=0.85, error_rate=0.01, p99_ms=900, calls=500))
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from .fields import EMPTY, rule_from_dict, as_int, as_mapping, as_number, as_str, check_keys, fail, show, under

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

ACTIONS = ("flag", "rollback")
RULE_KEYS = ("score_tolerance", "max_error_rate", "max_p99_ms", "window_minutes", "min_calls", "action")


@dataclass(frozen=True, slots=True)
class DriftRule:
    score_tolerance: float | None = None  # None: the suite's own tolerance (Baseline.tolerance)
    max_error_rate: float | None = None
    max_p99_ms: float | None = None
    window_minutes: int = 60
    min_calls: int = 100                   # fewer calls in the window: error rate/latency not judged
    action: str = "flag"

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "score_tolerance", as_number(self.score_tolerance, "score_tolerance", lo=0.0, hi=1.0, optional=True))
        set_(self, "max_error_rate", as_number(self.max_error_rate, "max_error_rate", lo=0.0, hi=1.0, optional=True))
        p99 = as_number(self.max_p99_ms, "max_p99_ms", lo=0.0, optional=True)
        if p99 is not None and p99 <= 0:
            fail("max_p99_ms", "must be above 0 milliseconds")
        set_(self, "max_p99_ms", p99)
        set_(self, "window_minutes", as_int(self.window_minutes, "window_minutes", lo=1))
        set_(self, "min_calls", as_int(self.min_calls, "min_calls", lo=1))
        if self.action not in ACTIONS:
            fail("action", f"{show(self.action)} is not one of {', '.join(ACTIONS)}")

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in RULE_KEYS if getattr(self, k) is not None}

    @classmethod
    def from_dict(cls, data: Any, *, base: "DriftRule | None" = None) -> "DriftRule":
        return rule_from_dict(cls, data, RULE_KEYS, base)


@dataclass(frozen=True, slots=True)
class DriftPolicy:
    default: DriftRule = field(default_factory=DriftRule)
    names: Mapping[str, DriftRule] = field(default_factory=lambda: EMPTY)

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", MappingProxyType(dict(self.names)))

    def rule_for(self, name: str | None) -> tuple[DriftRule, str]:
        if name is not None and name in self.names:
            return self.names[name], f"drift rule for {name}"
        return self.default, "registry default drift rule"

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "<input>") -> "DriftPolicy":
        with under(source, file=True):
            data = as_mapping(data, "drift")
            check_keys(data, ("default", "names"))
            with under("default"):
                default = DriftRule.from_dict(data.get("default"))
            names = {}
            for name, rule in as_mapping(data.get("names"), "names").items():
                as_str(name, "names", max_len=200)
                with under(f"names.{name}"):
                    names[name] = DriftRule.from_dict(rule, base=default)
            return cls(default, names)


@dataclass(frozen=True, slots=True)
class Baseline:
    """What the version was certified with: its suite score and the suite's tolerance."""

    score: float | None = None
    tolerance: float | None = None
    suite: str | None = None


@dataclass(frozen=True, slots=True)
class Observed:
    """Fresh numbers: a re-evaluation score and/or the serving window's error rate and p99."""

    score: float | None = None
    error_rate: float | None = None
    p99_ms: float | None = None
    calls: int = 0
    window: str | None = None  # e.g. "2026-12-05T17:00Z/2026-12-05T18:00Z", for the record


@dataclass(frozen=True, slots=True)
class DriftVerdict:
    flagged: bool
    reasons: tuple[str, ...]       # why it is flagged (empty when not)
    checked: tuple[str, ...]       # what was within bounds or could not be judged
    action: str

    def summary(self) -> str:
        if self.flagged:
            return f"drift: flagged for {self.action}: {'; '.join(self.reasons)}"
        return f"drift: within bounds ({'; '.join(self.checked) or 'nothing to judge'})"

    def to_event_data(self, name: str, version: str, env: str) -> dict[str, Any]:
        """The `version.flagged` event's data (record it only when flagged)."""
        return {"name": name, "version": version, "env": env, "action": self.action,
                "reasons": list(self.reasons), "checked": list(self.checked)}


def judge(rule: DriftRule, baseline: Baseline, observed: Observed) -> DriftVerdict:
    reasons: list[str] = []
    checked: list[str] = []
    tolerance = rule.score_tolerance if rule.score_tolerance is not None else baseline.tolerance
    if baseline.score is not None and observed.score is not None:
        if tolerance is None:
            checked.append("score not judged: no tolerance in the rule or the suite")
        else:
            drop = baseline.score - observed.score
            text = f"score {observed.score:g} vs certified {baseline.score:g} (drop {drop:.4g}, tolerance {tolerance:g})"
            (reasons if drop > tolerance + 1e-12 else checked).append(text)
    judged_slo = rule.max_error_rate is not None or rule.max_p99_ms is not None
    if judged_slo and observed.calls < rule.min_calls:
        checked.append(f"serving SLO not judged: {observed.calls} calls in the {rule.window_minutes}-minute window, "
                       f"fewer than {rule.min_calls}")
    elif judged_slo:
        if rule.max_error_rate is not None and observed.error_rate is not None:
            text = f"error rate {observed.error_rate:.4g} over {observed.calls} calls (max {rule.max_error_rate:g})"
            (reasons if observed.error_rate > rule.max_error_rate else checked).append(text)
        if rule.max_p99_ms is not None and observed.p99_ms is not None:
            text = f"p99 {observed.p99_ms:g} ms (max {rule.max_p99_ms:g} ms)"
            (reasons if observed.p99_ms > rule.max_p99_ms else checked).append(text)
    return DriftVerdict(bool(reasons), tuple(reasons), tuple(checked), rule.action)
