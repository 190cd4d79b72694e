"""Retention: which versions' stored artifact copies `llmreg gc` may remove, and why each
kept version is kept. Pure: it reads the stage history as plain spans and returns a plan;
the caller removes the copies (ArtifactStore.remove) and records the plan as one event.

Policy (registry default, overridable per name; a per-name rule may only keep more):
- a version that holds any stage now (in any environment) is always kept;
- a version that held production in the last `keep_production_days` days is kept;
- the last `keep_last_production` versions to hold production in each environment are kept;
- a version registered in the last `keep_recent_days` days is kept (it may still be on its
  way to production);
- everything else is collectable. Events are never removed, only stored artifact copies.

    policy = RetentionPolicy.from_dict({"default": {"keep_production_days": 90}})
    plan = plan_gc(policy, spans, now, name="support-bot", registered={"1.0.0": t0})
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from types import MappingProxyType

from .fields import EMPTY, rule_from_dict, as_int, as_mapping, as_str, check_keys, fail, type_name, under

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

RULE_KEYS = ("keep_production_days", "keep_last_production", "keep_recent_days")
POLICY_KEYS = ("default", "names")
NOT_A_STAGE = ("archived",)  # an archived version holds no stage: it is what gc is for


@dataclass(frozen=True, slots=True)
class StageSpan:
    """One stretch of time a version held a stage in an environment; until=None: still holds it."""

    version: str
    env: str
    stage: str
    since: datetime
    until: datetime | None = None

    @classmethod
    def of(cls, row: Any) -> "StageSpan":
        """From a (version, env, stage, since, until) tuple or a StageSpan."""
        if isinstance(row, StageSpan):
            return row
        if not isinstance(row, (tuple, list)) or len(row) != 5:
            fail("history", f"expected (version, env, stage, since, until), got {type_name(row)}")
        version, env, stage, since, until = row
        return cls(str(version), str(env), str(stage), _utc(since, "since"), None if until is None else _utc(until, "until"))

    def holds(self) -> bool:
        return self.until is None and self.stage not in NOT_A_STAGE


def _utc(value: Any, where: str) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            fail(f"history.{where}", f"{value!r} is not an ISO-8601 time; write e.g. 2026-01-31T12:00:00Z")
    if not isinstance(value, datetime):
        fail(f"history.{where}", f"expected a time, got {type_name(value)}")
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


@dataclass(frozen=True, slots=True)
class RetentionRule:
    keep_production_days: int = 90
    keep_last_production: int = 3
    keep_recent_days: int = 30

    def __post_init__(self) -> None:
        for key in RULE_KEYS:
            object.__setattr__(self, key, as_int(getattr(self, key), key, lo=0))

    def describe(self) -> str:
        return (f"keep versions that held production in the last {self.keep_production_days} days, "
                f"the last {self.keep_last_production} production versions per environment, "
                f"versions registered in the last {self.keep_recent_days} days, and every version holding a stage")

    def to_dict(self) -> dict[str, int]:
        return {key: getattr(self, key) for key in RULE_KEYS}

    @classmethod
    def from_dict(cls, data: Any, *, base: "RetentionRule | None" = None) -> "RetentionRule":
        return rule_from_dict(cls, data, RULE_KEYS, base)


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    default: RetentionRule = field(default_factory=RetentionRule)
    names: Mapping[str, RetentionRule] = field(default_factory=lambda: EMPTY)

    def __post_init__(self) -> None:
        for name, rule in self.names.items():
            for key in RULE_KEYS:
                if getattr(rule, key) < getattr(self.default, key):
                    fail(f"names.{name}.{key}", f"{getattr(rule, key)} keeps less than the registry default "
                         f"{getattr(self.default, key)}; a name may only keep more")
        object.__setattr__(self, "names", MappingProxyType(dict(self.names)))

    def rule_for(self, name: str | None) -> tuple[RetentionRule, str]:
        """(rule, where it came from) for one name."""
        if name is not None and name in self.names:
            return self.names[name], f"retention names.{name}"
        return self.default, "retention default"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"default": self.default.to_dict()}
        if self.names:
            out["names"] = {name: rule.to_dict() for name, rule in sorted(self.names.items())}
        return out

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "<input>") -> "RetentionPolicy":
        with under(source, file=True):
            data = as_mapping(data, "retention")
            check_keys(data, POLICY_KEYS)
            with under("default"):
                default = RetentionRule.from_dict(data.get("default"))
            names = {}
            for name, rule in as_mapping(data.get("names"), "names").items():
                as_str(name, "names", max_len=200)
                with under(f"names.{name}"):
                    names[name] = RetentionRule.from_dict(rule, base=default)  # unset keys inherit the default
            return cls(default, names)


@dataclass(frozen=True, slots=True)
class GcPlan:
    """What gc removes (versions whose stored copies go) and why each other version stays."""

    name: str | None
    rule: RetentionRule
    source: str
    now: datetime
    remove: tuple[str, ...]
    kept: Mapping[str, tuple[str, ...]]  # version -> reasons, each one line

    def policy_text(self) -> str:
        return f"{self.source}: {self.rule.describe()}"

    def digests_to_remove(self, artifacts_of: Mapping[str, Iterable[str]]) -> tuple[set[str], set[str]]:
        """(digests safe to remove, digests of removed versions kept because a kept version
        shares them). A version missing from artifacts_of keeps nothing and frees nothing."""
        kept = {d for v in self.kept for d in artifacts_of.get(v, ())}
        gone = {d for v in self.remove for d in artifacts_of.get(v, ())}
        return gone - kept, gone & kept

    def to_event_data(self, removed_digests: Iterable[str] = (), *, dry_run: bool = False) -> dict[str, Any]:
        """The `artifacts.collected` event's data."""
        return {"name": self.name, "policy": self.rule.to_dict(), "policy_source": self.source,
                "at": self.now.isoformat(), "dry_run": dry_run, "removed_versions": list(self.remove),
                "removed_digests": sorted(removed_digests),
                "kept": {v: list(reasons) for v, reasons in sorted(self.kept.items())}}

    def summary(self) -> str:
        removed = ", ".join(self.remove) if self.remove else "nothing"
        return f"gc {self.name or ''}: remove {removed}; keep {len(self.kept)} version(s) ({self.policy_text()})"


def _version_order(version: str) -> list[tuple[int, Any]]:
    """1.9.0 before 1.10.0 (display order only)."""
    return [(0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"[.+-]", version)]


def plan_gc(policy: RetentionPolicy | RetentionRule, history: Iterable[Any], now: datetime, *,
            name: str | None = None, registered: Mapping[str, Any] | None = None,
            pinned: Mapping[str, str] | None = None) -> GcPlan:
    """Plan a gc for one name from its stage history (StageSpans or 5-tuples) and, optionally,
    when each version was registered (versions only there never held a stage) and versions the
    caller pins with a reason (e.g. a configured rollback target)."""
    rule, source = (policy, "retention rule") if isinstance(policy, RetentionRule) else policy.rule_for(name)
    now = _utc(now, "now")
    spans = [StageSpan.of(row) for row in history]
    born = {str(v): _utc(t, "registered") for v, t in (registered or {}).items()}
    pinned = {str(v): str(why) for v, why in (pinned or {}).items()}
    versions = sorted({s.version for s in spans} | set(born) | set(pinned), key=_version_order)
    reasons: dict[str, list[str]] = {v: [] for v in versions}

    for span in spans:
        if span.holds():
            reasons[span.version].append(f"holds {span.stage} in {span.env}")
    horizon = now - timedelta(days=rule.keep_production_days)
    for span in spans:
        if span.stage == "production" and (span.until is None or span.until >= horizon):
            left = "still" if span.until is None else f"until {span.until.isoformat()}"
            reasons[span.version].append(f"held production in {span.env} {left} (within {rule.keep_production_days} days)")
    latest: dict[str, dict[str, datetime]] = {}  # env -> version -> newest time it entered production
    for span in spans:
        if span.stage == "production":
            seen = latest.setdefault(span.env, {})
            seen[span.version] = max(seen.get(span.version, span.since), span.since)
    for env, seen in latest.items():
        newest = sorted(seen, key=lambda v: seen[v], reverse=True)[: rule.keep_last_production]
        for version in newest:
            reasons[version].append(f"one of the last {rule.keep_last_production} production versions in {env}")
    recent = now - timedelta(days=rule.keep_recent_days)
    for version, at in born.items():
        if at >= recent:
            reasons[version].append(f"registered {at.isoformat()} (within {rule.keep_recent_days} days)")

    for version, why in pinned.items():
        reasons[version].append(why)

    kept = {v: tuple(dict.fromkeys(r)) for v, r in reasons.items() if r}
    remove = tuple(v for v in versions if v not in kept)
    return GcPlan(name, rule, source, now, remove, MappingProxyType(kept))


def refuse_collected(version: str, plan_or_policy_text: str) -> str:
    """The refusal a rollback to a collected version gets (the integrator raises Refused)."""
    return (f"version {version}: its stored artifacts were removed by gc under the retention policy "
            f"({plan_or_policy_text}); re-register the artifacts as a new version to restore it")
