"""The SLO guard's verdicts (pure) and its decisions against a real registry and call log."""
from __future__ import annotations

import pytest

from llmreg.registry import events as ev
from llmreg.serving.call_log import CallLogWriter, utc_now
from llmreg.serving.call_metrics import WindowMeasurement
from llmreg.serving.config import GatewayConfig, SloGuardConfig
from llmreg.serving.routes import RouteTable
from llmreg.serving.slo_guard import BREACH, HEALTHY, INSUFFICIENT, SloGuard, judge
from serving_fixtures import NAME, make_spec, release

BOUNDS = {"max_error_rate": 0.02, "max_p99_ms": 800.0, "min_calls": 100}


def measured(calls: int, errors: int, p99: float | None = 100.0) -> WindowMeasurement:
    return WindowMeasurement(NAME, "default", "1.0.0", calls, errors, errors / calls if calls else 0.0, p99, p99,
                             None, None, None)


@pytest.mark.parametrize(
    ("calls", "errors", "p99", "verdict"),
    [
        (50, 0, 100.0, INSUFFICIENT),  # too few calls to judge
        (100, 2, 100.0, HEALTHY),  # exactly at the error bound
        (100, 3, 100.0, BREACH),  # over the error bound
        (150, 0, 900.0, BREACH),  # p99 over its bound
        (5, 5, 100.0, BREACH),  # every call failing: more errors than a whole window may hold
        (5, 4, 100.0, INSUFFICIENT),  # 4 <= 0.02 * 200: could still be fine
    ],
)
def test_judge(calls, errors, p99, verdict):
    result, reasons = judge(measured(calls, errors, p99), BOUNDS, window=200)
    assert result == verdict
    assert bool(reasons) == (verdict == BREACH)


def test_fast_path_needs_a_minimum_of_calls_and_server_side_errors_only():
    from llmreg.serving.call_metrics import is_error

    assert judge(measured(3, 3), BOUNDS, window=100)[0] == INSUFFICIENT  # 3 > 0.02 * 100, but only 3 calls
    assert judge(measured(5, 5), BOUNDS, window=100)[0] == BREACH
    # the caller's faults, hang-ups, rate limits and load shedding never count against a version
    assert [s for s in (400, 404, 413, 422, 429, 499, 500, 502, 503, 504) if is_error(s)] == [500, 502, 504]


def _rows(writer: CallLogWriter, version: str, n: int, status: int) -> None:
    for i in range(n):
        writer.submit({"request_id": f"{version}-{status}-{i}", "time": utc_now(), "endpoint": "chat", "name": NAME,
                       "version": version, "env": "default", "stage": "production", "variant": "production",
                       "status": status, "latency_ms": 5.0})
    assert writer.flush(10)


def _guard(registry, store_url):
    routes = RouteTable(registry, GatewayConfig(store_url=store_url))
    routes.route(NAME, "default")
    writer = CallLogWriter(store_url).start()
    guard = SloGuard(registry, routes, writer.engine, SloGuardConfig(window=20, evidence_interval_s=0.0))
    return routes, writer, guard


def test_a_version_restored_by_rollback_is_not_rolled_back_further(registry, store_url):
    # The SLO policy is the registry's (gates.yaml): an entry's gates may only tighten it.
    registry.configure_gates({"canary_slo": {"max_error_rate": 0.05, "min_calls": 5}}, actor="root")
    gates = {"eval_threshold": 0.8}
    v1 = release(registry, make_spec(gates=gates))
    release(registry, make_spec(params={"max_tokens": 6}, gates=gates))
    registry.rollback(NAME, "default", actor="oncall")  # a person restored v1
    routes, writer, guard = _guard(registry, store_url)
    _rows(writer, v1.version, 20, 503)  # an outage hitting every version
    assert guard.tick() == []
    assert registry.status(NAME)["default"]["production"] == v1.version
    writer.close()


def test_fresh_production_breach_rolls_back_once(registry, store_url):
    # The SLO policy is the registry's (gates.yaml): an entry's gates may only tighten it.
    registry.configure_gates({"canary_slo": {"max_error_rate": 0.05, "min_calls": 5}}, actor="root")
    gates = {"eval_threshold": 0.8}
    v1 = release(registry, make_spec(gates=gates))
    v2 = release(registry, make_spec(params={"max_tokens": 6}, gates=gates))
    routes, writer, guard = _guard(registry, store_url)
    _rows(writer, v2.version, 10, 500)
    head = registry.store.head_seq()  # release() recorded the canaries' evidence as the guard too
    actions = guard.tick()
    assert [(a.action, a.ok, a.version) for a in actions] == [("rollback", True, v2.version)]
    assert registry.status(NAME)["default"]["production"] == v1.version
    assert routes.route(NAME, "default").production.version == v1.version  # routes refreshed at once
    assert guard.tick() == []  # v1 got production by rollback: not watched, nothing repeats
    events = [e for e in registry.events(name=NAME, env="default", after=head) if e.actor == "system:slo-guard"]
    assert [e.type for e in events] == [ev.EVIDENCE_RECORDED, ev.STAGE_ROLLED_BACK]
    writer.close()


def test_healthy_canary_gets_evidence_only_with_enough_calls(registry, store_url):
    # The SLO policy is the registry's (gates.yaml): an entry's gates may only tighten it.
    registry.configure_gates({"canary_slo": {"max_error_rate": 0.05, "min_calls": 10}}, actor="root")
    gates = {"eval_threshold": 0.8}
    release(registry, make_spec(gates=gates))
    canary = release(registry, make_spec(params={"max_tokens": 6}, gates=gates), to="canary")
    routes, writer, guard = _guard(registry, store_url)
    _rows(writer, canary.version, 9, 200)
    assert guard.tick() == []
    _rows(writer, canary.version, 1, 200)
    actions = guard.tick()
    assert [(a.action, a.ok) for a in actions] == [("evidence", True)]
    data = registry.events(name=NAME, env="default")[-1].payload["data"]
    assert (data["calls"], data["error_rate"], data["verdict"]) == (10, 0.0, "healthy")
    assert guard.tick() == []  # no new calls since: no duplicate evidence
    writer.close()


def test_guard_acts_under_the_shipped_roles(registry, store_url):
    """With roles configured, system:slo-guard's shipped role is enough to roll back."""
    from llmreg.registry.roles import Roles

    members = {"alice": ["developer"], "ci": ["developer"], "bob": ["reviewer"], "carol": ["reviewer"],
               "dave": ["reviewer"], "ops": ["reviewer"], "release-bot": ["release-manager"],
               "system:slo-guard": ["slo-guard"], "root": ["admin"]}
    registry.configure_roles(Roles.default(members=members).to_dict(), actor="root")
    # The SLO policy is the registry's (gates.yaml): an entry's gates may only tighten it.
    registry.configure_gates({"canary_slo": {"max_error_rate": 0.05, "min_calls": 5}}, actor="root")
    gates = {"eval_threshold": 0.8}
    v1 = release(registry, make_spec(gates=gates))
    v2 = release(registry, make_spec(params={"max_tokens": 6}, gates=gates))
    routes, writer, guard = _guard(registry, store_url)
    _rows(writer, v2.version, 10, 500)
    assert [(a.action, a.ok) for a in guard.tick()] == [("rollback", True)]
    assert registry.status(NAME)["default"]["production"] == v1.version
    writer.close()


def test_guard_evidence_says_where_it_was_measured_and_is_signed_by_the_guards_own_key(registry, store_url, tmp_path):
    """slo_guard.key: the guard signs with its own service key (bound to system:slo-guard), not the
    gateway's; its evidence names this instance, the window and the minimum call count."""
    from llmreg.registry.keys import write_new_key
    from llmreg.registry.roles import Roles

    guard_key = write_new_key(str(tmp_path / "slo-guard.key"), comment="system:slo-guard@gw-eu-1")
    members = {"alice": ["developer"], "ci": ["developer"], "bob": ["reviewer"], "carol": ["reviewer"],
               "dave": ["reviewer"], "release-bot": ["release-manager"], "system:slo-guard": ["slo-guard"],
               "root": ["admin"]}
    signers = {m: [registry.keys.key_for(m).public.openssh()] for m in members if m != "system:slo-guard"}
    signers["system:slo-guard"] = [guard_key.public.openssh()]  # the guard's key, and only it
    registry.configure_roles(Roles.default(members=members).to_dict(), actor="root", signers=signers)
    registry.configure_gates({"canary_slo": {"max_error_rate": 0.05, "min_calls": 10}}, actor="root")
    release(registry, make_spec(gates={"eval_threshold": 0.8}), to="canary")
    routes = RouteTable(registry, GatewayConfig(store_url=store_url))
    routes.route(NAME, "default")
    writer = CallLogWriter(store_url).start()
    config = SloGuardConfig(window=20, evidence_interval_s=0.0, key=str(tmp_path / "slo-guard.key"),
                            instance="gw-eu-1")
    guard = SloGuard(registry, routes, writer.engine, config)
    assert guard.check_key() is None
    _rows(writer, "1.0.0", 12, 200)
    assert [(a.action, a.ok) for a in guard.tick()] == [("evidence", True)]
    event = registry.events(name=NAME, env="default")[-1]
    assert (event.type, event.actor, event.signer) == (ev.EVIDENCE_RECORDED, "system:slo-guard", guard_key.fingerprint)
    data = event.payload["data"]
    assert (data["instance"], data["calls"], data["min_calls"]) == ("gw-eu-1", 12, 10)
    assert data["window"]["start"] <= data["window"]["end"]
    assert registry.verify_audit().ok
    # Without its key the gateway's own identity cannot stand in: the guard says so at start.
    keyless = SloGuard(registry, routes, writer.engine,
                       SloGuardConfig(window=20, key=str(tmp_path / "missing.key"), instance="gw-eu-1"))
    assert "missing.key" in (keyless.check_key() or "")
    writer.close()
