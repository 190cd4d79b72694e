"""SLO guard: watch canaries and fresh production versions, roll back on a breach.

Every `interval_s` the guard measures, for each known (name, env), the canary holder and a
production holder that took production by promotion less than `fresh_production_s` ago:
the most recent `window` served calls of that version since it took the stage (from
gateway_calls, so every replica's traffic counts). Bounds are the entry's
gates.canary_slo over gates.yaml over the defaults (Registry.gates().slo_bounds).

Verdicts (`judge`, pure):
- breach: with at least min_calls calls, error rate or p99 over its bound; or, from
  FAST_PATH_MIN_CALLS calls on, more errors than a whole window may hold (errors >
  max_error_rate * window), so a version failing every call is pulled after a few calls
  instead of after min_calls. Only server-side failures count (call_metrics.is_error): an
  upstream's 4xx for an over-long prompt is the caller's error and never rolls back.
- healthy: at least min_calls calls, within bounds.
- insufficient: too few calls to tell.

On a breach the guard records `canary_slo` evidence (the measured figures, and where: this
gateway instance, the window's first and last call, the call count and the minimum it needed),
then acts as actor `system:slo-guard`: a breached canary is pulled (its traffic returns to the
production holder), a breached fresh production version is rolled back to the previous
production version; both are one `Registry.rollback` event carrying the figures. Healthy canaries get `canary_slo` evidence at most every
`evidence_interval_s`: that is what the canary -> production gate reads. Several replicas
may race to act; the registry's optimistic concurrency lets one win, the others log it.

The guard signs with its own service key, never the gateway operator's: `slo_guard.key` (a
file), else $LLMREG_KEYRING/system:slo-guard.key, else $LLMREG_SIGNING_KEY; roles.yaml binds
that key to system:slo-guard, whose role grants `record_slo` (no other role should), so SLO
figures from anyone else are refused. The key is looked up at start: a gateway without one
says so in one line and serves on, its guard unable to record.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping

from llmreg.registry import events as ev
from llmreg.registry.errors import Conflict, Refused, RegistryError
from llmreg.serving.call_metrics import WindowMeasurement, measure_window
from llmreg.serving.config import SloGuardConfig
from llmreg.serving.routes import Deployment, RouteTable

log = logging.getLogger("llmreg.slo_guard")

BREACH, HEALTHY, INSUFFICIENT = "breach", "healthy", "insufficient"
# The fast path (more errors than a whole window may hold) still needs this many calls:
# a handful of failures is no evidence to roll production back on.
FAST_PATH_MIN_CALLS = 5


def judge(m: WindowMeasurement, bounds: Mapping[str, Any], window: int) -> tuple[str, tuple[str, ...]]:
    """(verdict, reasons) for one measurement against SLO bounds."""
    max_err = bounds.get("max_error_rate")
    max_p99 = bounds.get("max_p99_ms")
    min_calls = int(bounds.get("min_calls") or 1)
    reasons = []
    if max_err is not None and m.errors > max_err * window and m.calls >= min(FAST_PATH_MIN_CALLS, min_calls):
        reasons.append(f"{m.errors} errors in the last {m.calls} calls exceed what a {window}-call window may hold "
                       f"at max_error_rate {max_err:g}")
    if m.calls >= min_calls:
        if max_err is not None and m.error_rate > max_err and not reasons:
            reasons.append(f"error_rate {m.error_rate:.4f} > {max_err:g} over {m.calls} calls")
        if max_p99 is not None and m.p99_ms is not None and m.p99_ms > max_p99:
            reasons.append(f"p99 {m.p99_ms:.1f}ms > {max_p99:g}ms over {m.calls} calls")
        return (BREACH if reasons else HEALTHY), tuple(reasons)
    return (BREACH if reasons else INSUFFICIENT), tuple(reasons)


@dataclass(frozen=True, slots=True)
class GuardAction:
    name: str
    env: str
    version: str
    role: str  # canary | production
    action: str  # evidence | pull_canary | rollback
    ok: bool
    detail: str
    measurement: WindowMeasurement | None = None


def _age_s(since: str | None, now: float) -> float:
    if not since:
        return float("inf")
    moment = datetime.strptime(since, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    return now - moment.timestamp()


@dataclass
class _Memory:
    handled: set = field(default_factory=set)  # (name, env, version, seq) acted on for good
    evidence_at: dict = field(default_factory=dict)  # (name, env, version) -> (monotonic time, last_id)
    promoted: dict = field(default_factory=dict)  # (name, env, version, seq) -> took production by promotion?


class SloGuard:
    def __init__(self, registry: Any, routes: RouteTable, engine: Any, config: SloGuardConfig):
        self.registry = registry  # reads; `writer` signs the guard's own writes
        self.routes = routes
        self.engine = engine
        self.config = config
        self.instance = config.instance or f"{socket.gethostname()}:{os.getpid()}"
        self.writer = registry
        if config.key:  # its own key file: a registry view over the same store that signs with it
            from llmreg.registry.identity import KeySource

            self.writer = type(registry)(registry.store, registry.artifacts, keys=KeySource(key=config.key))
        self.key_problem: str | None = None
        self.actions: list[GuardAction] = []
        self._memory = _Memory()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check_key(self) -> str | None:
        """None when the guard has a key to sign with, else the one-line reason (logged at start)."""
        from llmreg.registry.errors import Unauthenticated

        keys = getattr(self.writer, "keys", None)
        if keys is None:  # not a llmreg Registry (a test double): nothing to look up
            return None
        try:
            key = keys.key_for(self.config.actor)
        except Unauthenticated as exc:
            self.key_problem = str(exc)
        else:
            self.key_problem = None
            log.info("slo guard: signs as %s with key %s, instance %s", self.config.actor, key.fingerprint,
                     self.instance)
        if self.key_problem:
            log.error("slo guard: no signing key for %s, so it cannot record canary_slo evidence or roll back: %s",
                      self.config.actor, self.key_problem)
        return self.key_problem

    def start(self) -> "SloGuard":
        self.check_key()
        self._thread = threading.Thread(target=self._run, name="gateway-slo-guard", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.config.interval_s):
            try:
                self.tick()
            except Exception as exc:  # noqa: BLE001 - the guard must outlive a bad tick
                log.warning("slo guard tick failed: %s", exc)

    # ------------------------------------------------------------------ one pass
    def tick(self) -> list[GuardAction]:
        done: list[GuardAction] = []
        now = time.time()
        for route in self.routes.known():
            watched = []
            if route.canary is not None:
                watched.append((route.canary, "canary"))
            production = route.production
            if production is not None and _age_s(production.since, now) < self.config.fresh_production_s \
                    and self._took_by_promotion(production):
                watched.append((production, "production"))
            for deployment, role in watched:
                action = self._check(deployment, role)
                if action is not None:
                    done.append(action)
        self.actions.extend(done)
        return done

    def _took_by_promotion(self, deployment: Deployment) -> bool:
        """A holder restored by a rollback is not watched: during an outage that hits every
        version the guard must not keep rolling back through history."""
        key = (deployment.name, deployment.env, deployment.version, deployment.seq)
        known = self._memory.promoted.get(key)
        if known is None:
            latest = self.registry.events(name=deployment.name, env=deployment.env, version=deployment.version,
                                             types=(ev.STAGE_PROMOTED, ev.STAGE_ROLLED_BACK), newest_first=True, limit=1)
            known = bool(latest) and latest[0].type == ev.STAGE_PROMOTED and latest[0].seq == deployment.seq
            self._memory.promoted[key] = known
        return known

    def _check(self, deployment: Deployment, role: str) -> GuardAction | None:
        key = (deployment.name, deployment.env, deployment.version, deployment.seq)
        if key in self._memory.handled:
            return None
        bounds = self.registry.gates().slo_bounds(deployment.entry.spec.gates)
        m = measure_window(self.engine, deployment.name, deployment.env, deployment.version, self.config.window,
                           since=deployment.since)
        verdict, reasons = judge(m, bounds, self.config.window)
        if verdict == BREACH:
            return self._breach(deployment, role, m, bounds, reasons, key)
        if verdict == HEALTHY and role == "canary":
            return self._healthy_evidence(deployment, m, bounds)
        return None

    def _evidence_data(self, m: WindowMeasurement, bounds: Mapping[str, Any], verdict: str,
                       reasons: tuple[str, ...] = ()) -> dict[str, Any]:
        data = m.evidence()
        data.setdefault("p99_ms", 0.0)
        # Where it was measured (the registry refuses canary_slo without it): this instance, the
        # window's first and last served call, the count and the minimum the verdict needed.
        data.pop("window", None)
        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        data.update({"verdict": verdict, "bounds": dict(bounds), "window_size": self.config.window,
                     "instance": self.instance, "window": {"start": m.first or now, "end": m.last or now},
                     "min_calls": int(bounds.get("min_calls") or 1)})
        if reasons:
            data["reasons"] = list(reasons)
        return data

    def _healthy_evidence(self, d: Deployment, m: WindowMeasurement, bounds: Mapping[str, Any]) -> GuardAction | None:
        memo_key = (d.name, d.env, d.version)
        last = self._memory.evidence_at.get(memo_key)
        if last is not None and (time.monotonic() - last[0] < self.config.evidence_interval_s or last[1] == m.last_id):
            return None
        try:
            self.writer.record_evidence(d.name, d.version, d.env, "canary_slo",
                                        self._evidence_data(m, bounds, HEALTHY), actor=self.config.actor)
        except RegistryError as exc:
            log.warning("slo guard: cannot record canary_slo evidence for %s in %s: %s", d.ref, d.env, exc)
            return GuardAction(d.name, d.env, d.version, "canary", "evidence", False, str(exc), m)
        self._memory.evidence_at[memo_key] = (time.monotonic(), m.last_id)
        return GuardAction(d.name, d.env, d.version, "canary", "evidence", True,
                           f"canary_slo evidence: {m.calls} calls, error_rate {m.error_rate:.4f}, p99 {m.p99_ms:.1f}ms", m)

    def _breach(self, d: Deployment, role: str, m: WindowMeasurement, bounds: Mapping[str, Any],
                reasons: tuple[str, ...], key: tuple) -> GuardAction:
        summary = "; ".join(reasons)
        actor = self.config.actor
        data = self._evidence_data(m, bounds, BREACH, reasons)
        try:
            self.writer.record_evidence(d.name, d.version, d.env, "canary_slo", data, actor=actor)
        except RegistryError as exc:
            log.warning("slo guard: cannot record breach evidence for %s in %s: %s", d.ref, d.env, exc)
        action = "pull_canary" if role == "canary" else "rollback"
        held = {p.stage: p for p in self.registry.pointers(d.name, d.env)}.get(role)
        if held is None or (held.version, held.seq) != (d.version, d.seq):
            # Someone moved the stage since this measurement: act only on what was measured.
            self._memory.handled.add(key)
            return GuardAction(d.name, d.env, d.version, role, action, False,
                               f"{role} in {d.env} changed since it was measured; not acting", m)
        try:
            # canary: the version leaves the canary stage, its share returns to production;
            # production: the previous production version is restored.
            undo = self.writer.pull_canary if role == "canary" else self.writer.rollback
            undo(d.name, d.env, actor=actor, reason=f"slo-guard: {summary}", evidence={"slo_guard": data})
        except (Conflict, Refused) as exc:
            # Lost a race with another replica or a person, or nothing to go back to: do not retry.
            self._memory.handled.add(key)
            log.warning("slo guard: %s of %s in %s refused: %s", role, d.ref, d.env, exc)
            return GuardAction(d.name, d.env, d.version, role, action, False, str(exc), m)
        except RegistryError as exc:
            log.warning("slo guard: %s of %s in %s failed (will retry): %s", role, d.ref, d.env, exc)
            return GuardAction(d.name, d.env, d.version, role, action, False, str(exc), m)
        self._memory.handled.add(key)
        log.error("slo guard: %s %s in %s breached its SLO (%s); %s recorded", role, d.ref, d.env, summary, action)
        self.routes.refresh(force=True)
        return GuardAction(d.name, d.env, d.version, role, action, True, summary, m)
