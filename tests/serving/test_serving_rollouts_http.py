"""Rollouts over real HTTP: canary split and stickiness, shadow copies, registry changes
without restart, in-flight requests, and the SLO guard's automatic rollback."""
from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from llmreg.registry import events as ev
from llmreg.serving.assignment import bucket, split_salt
from llmreg.serving.call_log import read_rows
from llmreg.serving.config import ShadowConfig, SloGuardConfig
from serving_fixtures import BOTH_STORES, NAME, make_spec, release, wait_until

MSG = [{"role": "user", "content": "my card was charged twice"}]
FAST_SLO = {"eval_threshold": 0.8, "canary_slo": {"max_error_rate": 0.05, "max_p99_ms": 5000, "min_calls": 10}}


def fast_slo(registry) -> dict:
    """A canary policy fast enough for a test, set as the registry's (an entry's gates may only tighten it)."""
    if registry.gates().canary_slo != FAST_SLO["canary_slo"]:
        registry.configure_gates({"canary_slo": FAST_SLO["canary_slo"]}, actor="admin")
    return {"eval_threshold": 0.8}


@BOTH_STORES
def test_canary_split_is_sticky_proportional_and_logged_exactly(registry, start_gateway):
    stable = release(registry, make_spec())
    canary = release(registry, make_spec(params={"max_tokens": 6}), to="canary", weight=0.3)
    gw = start_gateway()
    client = gw.client()
    callers = [f"user-{i}" for i in range(400)]

    def call(caller: str):
        raw = client.chat.completions.with_raw_response.create(model=f"{NAME}@production", messages=MSG, user=caller)
        return caller, raw.headers["x-request-id"], raw.parse()

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(call, callers))
    salt = split_salt(NAME, "default")
    to_canary = {c for c, _, r in results if r.llmreg["version"] == canary.version}
    expected = {c for c in callers if bucket(c, salt) < 0.3}
    assert to_canary == expected  # deterministic per caller key
    assert abs(len(to_canary) / len(callers) - 0.3) < 0.07
    for _, _, response in results:  # the version served is the version whose params were applied
        sent = json.loads(response.choices[0].message.content)
        want = 6 if response.llmreg["version"] == canary.version else 5
        assert sent["max_tokens"] == want
        assert response.llmreg["variant"] == ("canary" if want == 6 else "production")
    assert {r.llmreg["version"] for _, _, r in results} == {stable.version, canary.version}

    gw.flush()
    rows = {r["request_id"]: r for r in read_rows(gw.engine)}
    assert len(rows) == len(results)  # zero lost rows under concurrency
    for _, request_id, response in results:  # zero misattributed rows
        assert (rows[request_id]["version"], rows[request_id]["variant"]) == \
            (response.llmreg["version"], response.llmreg["variant"])


def test_same_caller_always_gets_the_same_version(registry, start_gateway):
    release(registry, make_spec())
    release(registry, make_spec(params={"max_tokens": 6}), to="canary", weight=0.5)
    client = start_gateway().client()
    for caller in ("alice@example.com", "bob@example.com", "carol@example.com"):
        seen = {client.chat.completions.create(model=NAME, messages=MSG, user=caller).llmreg["version"]
                for _ in range(15)}
        assert len(seen) == 1
    # the caller header wins over `user`: same header, different users -> same version
    seen = {client.chat.completions.create(model=NAME, messages=MSG, user=f"u{i}",
                                           extra_headers={"X-LLMReg-Caller": "tenant-42"}).llmreg["version"]
            for i in range(15)}
    assert len(seen) == 1


def test_shadow_gets_a_copy_that_never_leaks(registry, start_gateway, upstream):
    served = release(registry, make_spec())
    shadow = release(registry, make_spec(model="gpt-5-nano-2026-02-01"), to="staging")
    gw = start_gateway(shadows=(ShadowConfig(name=NAME, env="default", stage="staging"),))
    client = gw.client()
    for i in range(20):
        raw = client.chat.completions.with_raw_response.create(model=NAME, messages=MSG, user=f"u{i}")
        response = raw.parse()
        assert response.llmreg["version"] == served.version
        assert json.loads(response.choices[0].message.content)["model"] == "gpt-5-mini-2026-01-01"
        assert shadow.version not in raw.text and shadow.version not in json.dumps(dict(raw.headers))
    wait_until(lambda: len(upstream.received("gpt-5-nano-2026-02-01")) == 20)
    rows = wait_until(lambda: gw.flush() or [r for r in read_rows(gw.engine) if r["variant"] == "shadow"][19:]
                      and read_rows(gw.engine))
    shadow_rows = [r for r in rows if r["variant"] == "shadow"]
    served_rows = [r for r in rows if r["variant"] == "production"]
    assert len(shadow_rows) == len(served_rows) == 20
    assert {r["version"] for r in shadow_rows} == {shadow.version}
    assert {r["request_id"] for r in shadow_rows} == {r["request_id"] for r in served_rows}
    assert all(r["agrees"] == 0 for r in shadow_rows)  # different model -> different answer, compared


@BOTH_STORES
def test_promotion_and_rollback_reach_traffic_within_a_second(registry, start_gateway):
    v1 = release(registry, make_spec())
    gw = start_gateway()
    client = gw.client()
    assert client.chat.completions.create(model=NAME, messages=MSG).llmreg["version"] == v1.version

    v2 = release(registry, make_spec(params={"max_tokens": 6}))
    promoted = time.monotonic()
    wait_until(lambda: client.chat.completions.create(model=NAME, messages=MSG).llmreg["version"] == v2.version,
               timeout=1.0)
    assert time.monotonic() - promoted < 1.0

    registry.rollback(NAME, "default", actor="oncall")
    rolled = time.monotonic()
    wait_until(lambda: client.chat.completions.create(model=NAME, messages=MSG).llmreg["version"] == v1.version,
               timeout=1.0)
    assert time.monotonic() - rolled < 1.0


def test_in_flight_request_finishes_on_the_version_it_started_with(registry, start_gateway, upstream):
    v1 = release(registry, make_spec())
    upstream.delays["gpt-5-mini-2026-01-01"] = 1.0
    gw = start_gateway()
    client = gw.client()
    slow: dict = {}
    thread = threading.Thread(target=lambda: slow.update(r=client.chat.completions.create(model=NAME, messages=MSG)))
    thread.start()
    wait_until(lambda: upstream.received("gpt-5-mini-2026-01-01"))
    v2 = release(registry, make_spec(model="gpt-5-nano-2026-02-01"))
    wait_until(lambda: client.chat.completions.create(model=NAME, messages=MSG).llmreg["version"] == v2.version)
    thread.join(10)
    assert slow["r"].llmreg["version"] == v1.version
    assert json.loads(slow["r"].choices[0].message.content)["model"] == "gpt-5-mini-2026-01-01"


def _guarded(start_gateway):
    return start_gateway(slo_guard=SloGuardConfig(enabled=True, interval_s=0.1, window=20, evidence_interval_s=0.0))


@BOTH_STORES
def test_failing_canary_is_pulled_by_the_guard_and_traffic_returns(registry, start_gateway, upstream):
    stable = release(registry, make_spec(gates=fast_slo(registry)))
    bad = release(registry, make_spec(model="gpt-5-broken-2026-03-01", gates=fast_slo(registry)), to="canary", weight=0.5)
    upstream.fail_models.add("gpt-5-broken-2026-03-01")
    head = registry.store.head_seq()  # release() recorded earlier canaries' evidence as the guard too
    gw = _guarded(start_gateway)
    http = httpx.Client(base_url=gw.base_url)
    caller = 0

    def served_versions(n: int) -> list[str]:
        nonlocal caller
        out = []
        for _ in range(n):
            caller += 1
            r = http.post("/v1/chat/completions", json={"model": NAME, "messages": MSG, "user": f"u{caller}"})
            out.append(r.headers["x-llmreg-version"].split("@")[1])
        return out

    first = served_versions(20)
    assert bad.version in first  # the canary did take traffic (and failed)
    wait_until(lambda: registry.status(NAME)["default"].get("canary") is None, timeout=5)
    assert set(served_versions(30)) == {stable.version}
    guard_events = [e for e in registry.events(name=NAME, env="default", after=head)
                    if e.actor == "system:slo-guard"]
    kinds = [e.type for e in guard_events]
    assert ev.EVIDENCE_RECORDED in kinds
    evidence = next(e for e in guard_events if e.type == ev.EVIDENCE_RECORDED).payload["data"]
    assert evidence["verdict"] == "breach" and evidence["error_rate"] == 1.0 and evidence["calls"] >= 2
    pulled = [e for e in guard_events if e.type == ev.STAGE_ROLLED_BACK]
    assert pulled and pulled[-1].payload["stage"] == "canary" and pulled[-1].version == bad.version
    assert pulled[-1].evidence["attached"]["slo_guard"]["verdict"] == "breach"
    assert registry.status(NAME).of(bad.version, "default") == "development"  # pulled, not archived: can be fixed


def test_failing_fresh_production_is_rolled_back_by_the_guard(registry, start_gateway, upstream):
    stable = release(registry, make_spec(gates=fast_slo(registry)))
    gw = _guarded(start_gateway)
    client = gw.client()
    assert client.chat.completions.create(model=NAME, messages=MSG).llmreg["version"] == stable.version
    bad = release(registry, make_spec(model="gpt-5-broken-2026-03-01", gates=fast_slo(registry)))
    upstream.fail_models.add("gpt-5-broken-2026-03-01")
    http = httpx.Client(base_url=gw.base_url)

    def now_serving() -> str:
        r = http.post("/v1/chat/completions", json={"model": NAME, "messages": MSG})
        return r.headers["x-llmreg-version"].split("@")[1]

    wait_until(lambda: now_serving() == bad.version, timeout=2)  # the bad version took traffic...
    wait_until(lambda: now_serving() == stable.version, timeout=5)  # ...until the guard rolled it back
    assert registry.status(NAME)["default"]["production"] == stable.version
    rollback = [e for e in registry.events(name=NAME, env="default") if e.type == ev.STAGE_ROLLED_BACK]
    assert rollback and rollback[-1].actor == "system:slo-guard" and "slo-guard" in rollback[-1].payload["reason"]
    assert rollback[-1].payload["from"] == bad.version
    assert rollback[-1].evidence["attached"]["slo_guard"]["error_rate"] > 0.05
    assert {now_serving() for _ in range(10)} == {stable.version}


def test_guard_evidence_lets_a_healthy_canary_pass_the_production_gate(registry, start_gateway):
    release(registry, make_spec(gates=fast_slo(registry)))
    good = release(registry, make_spec(params={"max_tokens": 6}, gates=fast_slo(registry)), to="canary", weight=1.0)
    head = registry.store.head_seq()
    gw = _guarded(start_gateway)
    client = gw.client()
    for i in range(12):
        assert client.chat.completions.create(model=NAME, messages=MSG, user=f"u{i}").llmreg["version"] == good.version

    def guard_evidence():
        return [e for e in registry.events(name=NAME, env="default", after=head)
                if e.type == ev.EVIDENCE_RECORDED and e.actor == "system:slo-guard"]

    recorded = wait_until(guard_evidence, timeout=5)
    data = recorded[-1].payload["data"]
    assert data["verdict"] == "healthy" and data["calls"] >= 10 and data["min_calls"] == 10
    assert data["instance"] and data["window"]["start"] <= data["window"]["end"]  # where it was measured
    registry.approve(NAME, good.version, "production", "default", actor="carol")
    registry.approve(NAME, good.version, "production", "default", actor="dave")
    registry.promote(NAME, good.version, "production", "default", actor="release-bot")
    assert registry.status(NAME)["default"]["production"] == good.version
