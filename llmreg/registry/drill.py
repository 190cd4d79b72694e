"""Rollback drill: resolve where a rollback of (name, env) would go and check that it could
go there, without moving anything. Pure: the checks are callables the caller plugs in
(artifact verification, ref resolution, the gateway backend's dry-run load), each taking
the target version and returning (ok, detail); one that raises is a failed check, so a drill
always reports instead of crashing.

    result = run_drill("support-bot", "prod", spans, current="1.3.0", now=now,
                       checks={"artifacts": verify, "refs": resolve_refs, "backend_load": dry_load})
    record("rollback.drill", result.to_event_data()); print(result.summary())
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from .errors import NotFound
from .retention import StageSpan

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

CHECK_ORDER = ("artifacts", "refs", "backend_load")  # the checks the issue names, in this order
Check = Callable[[str], "tuple[bool, str]"]


@dataclass(frozen=True, slots=True)
class RollbackTarget:
    version: str
    reason: str


def pick_target(history: Iterable[Any], current: str, env: str, *, configured: str | None = None) -> RollbackTarget:
    """The configured rollback version if one is set, else the version that held production
    in `env` most recently before `current` (by when it entered production)."""
    if configured is not None:
        if configured == current:
            raise NotFound(f"rollback target {configured} for {env} is the current production version; "
                           "configure another target or unset it")
        return RollbackTarget(configured, f"configured rollback target {configured}")
    spans = [StageSpan.of(row) for row in history]
    earlier = sorted((s for s in spans if s.env == env and s.stage == "production" and s.version != current),
                     key=lambda s: s.since, reverse=True)
    if not earlier:
        raise NotFound(f"no earlier production version in {env} to roll back to (current: {current})")
    newest = earlier[0]
    until = newest.until.isoformat() if newest.until else "now"
    return RollbackTarget(newest.version, f"previous production version in {env} (held it {newest.since.isoformat()} .. {until})")


@dataclass(frozen=True, slots=True)
class DrillCheck:
    name: str
    ok: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class DrillResult:
    name: str
    env: str
    current: str
    target: str | None
    reason: str
    checks: tuple[DrillCheck, ...]
    at: datetime

    @property
    def ok(self) -> bool:
        return self.target is not None and all(c.ok for c in self.checks)

    def summary(self) -> str:
        head = f"rollback drill {self.name} {self.env}: "
        if self.target is None:
            return head + f"FAILED: {self.reason}"
        failed = [c for c in self.checks if not c.ok]
        if failed:
            listed = "; ".join(f"{c.name}: {c.detail}" for c in failed)
            return head + f"FAILED {self.current} -> {self.target}: {len(failed)} of {len(self.checks)} checks failed: {listed}"
        return head + f"ok {self.current} -> {self.target} ({self.reason}); {len(self.checks)} checks passed: " + \
            ", ".join(c.name for c in self.checks)

    def to_event_data(self) -> dict[str, Any]:
        """The `rollback.drill` event's data."""
        return {"name": self.name, "env": self.env, "current": self.current, "target": self.target,
                "reason": self.reason, "ok": self.ok, "at": self.at.isoformat(),
                "checks": [c.to_dict() for c in self.checks]}


def _run_check(name: str, check: Check, version: str) -> DrillCheck:
    try:
        outcome = check(version)
    except Exception as exc:  # a drill reports every failure; it must not stop at the first
        return DrillCheck(name, False, f"{type(exc).__name__}: {exc}")
    if isinstance(outcome, DrillCheck):
        return outcome
    ok, detail = outcome
    return DrillCheck(name, bool(ok), str(detail))


def run_drill(name: str, env: str, history: Iterable[Any], current: str, *, checks: Mapping[str, Check], now: datetime,
              configured: str | None = None) -> DrillResult:
    """Pick the target, then run every check against it (named checks first in CHECK_ORDER)."""
    try:
        target = pick_target(history, current, env, configured=configured)
    except NotFound as exc:
        return DrillResult(name, env, current, None, str(exc), (), now)
    order = [n for n in CHECK_ORDER if n in checks] + [n for n in checks if n not in CHECK_ORDER]
    results = tuple(_run_check(n, checks[n], target.version) for n in order)
    return DrillResult(name, env, current, target.version, target.reason, results, now)
