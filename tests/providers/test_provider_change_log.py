"""The pure change-log rules: snapshot pins, payloads, transitions and the fold."""
from __future__ import annotations

import pytest

from llmreg.registry import providers as pv
from llmreg.registry.errors import BadInput, Refused


def event(seq, status, snapshot="gpt-5-mini-2026-06-01", time=None, **payload):
    return {"seq": seq, "type": pv.PROVIDER_SNAPSHOT, "time": time or f"2026-06-{seq:02d}T00:00:00.000000Z",
            "payload": {"provider": "openai", "snapshot": snapshot, "status": status, **payload}}


@pytest.mark.parametrize("model_id", ["gpt-5-mini-latest", "latest", "triage-latest", "gpt-4o", "main",
                                      "claude-3-5-sonnet", "org/model:latest"])
def test_floating_or_unpinned_ids_are_never_snapshots(model_id):
    with pytest.raises(BadInput) as err:
        pv.snapshot_payload("openai", model_id, pv.SEEN)
    assert err.value.field == "snapshot"
    assert model_id in str(err.value)


@pytest.mark.parametrize("model_id", ["gpt-5-mini-2026-06-01", "gpt-4o-2024-08-06", "claude-3-5-sonnet-20241022",
                                      "gpt-4-0613", "gemini-1.5-pro-002", "triage-2026-05-01"])
def test_dated_or_versioned_ids_are_snapshots(model_id):
    assert pv.check_snapshot("openai", model_id) == model_id
    assert pv.pin_problem("openai", model_id) is None


def test_alias_message_says_how_to_pin():
    with pytest.raises(BadInput, match="floating alias.*YYYY-MM-DD"):
        pv.check_snapshot("openai", "gpt-5-mini-latest")


def test_keys_round_trip_and_refuse_aliases():
    key = pv.snapshot_key("local-vllm", "triage-2026-06-01")
    assert key == "local-vllm/triage-2026-06-01"
    assert pv.parse_snapshot_key(key) == ("local-vllm", "triage-2026-06-01")
    with pytest.raises(BadInput):
        pv.parse_snapshot_key("local-vllm/triage-latest")
    with pytest.raises(BadInput, match="PROVIDER/SNAPSHOT"):
        pv.parse_snapshot_key("no-separator")


@pytest.mark.parametrize("value, expected", [("2026-12-31", "2026-12-31"), ("2026-12-31T23:00:00Z", "2026-12-31"),
                                             (1798675200, "2026-12-31"), (None, None)])
def test_dates_normalise(value, expected):
    assert pv.normalise_date(value, "shutdown_date") == expected


def test_bad_date_names_the_field():
    with pytest.raises(BadInput) as err:
        pv.snapshot_payload("openai", "gpt-5-mini-2026-06-01", pv.SEEN, shutdown_date="soon")
    assert err.value.field == "shutdown_date"


@pytest.mark.parametrize("status, fields, missing", [
    (pv.QUALIFYING, {"run": "r1"}, "suite"),
    (pv.QUALIFIED, {"suite": "s@1.0.0", "run": "r1"}, "score"),
    (pv.FAILED, {"run": "r1"}, "detail"),
])
def test_payload_requires_what_its_status_needs(status, fields, missing):
    with pytest.raises(BadInput) as err:
        pv.snapshot_payload("openai", "gpt-5-mini-2026-06-01", status, **fields)
    assert err.value.field == missing


def test_verdict_contradicting_passed_is_refused():
    with pytest.raises(BadInput, match="contradicts"):
        pv.snapshot_payload("openai", "gpt-5-mini-2026-06-01", pv.QUALIFIED, suite="s@1.0.0", run="r", score=0.9,
                            passed=False)


def test_fold_walks_seen_qualifying_qualified_then_a_failed_rerun_keeps_the_verdict():
    events = [
        event(1, pv.SEEN, family="gpt-5-mini", shutdown_date="2027-01-01"),
        {"seq": 2, "type": "stage.promoted", "time": "x", "payload": {}},  # other types are skipped
        event(3, pv.QUALIFYING, suite="triage-eval@1.0.0", run="r1"),
        event(4, pv.QUALIFIED, suite="triage-eval@1.0.0", run="r1", score=0.93, drafts=["app@2.0.0"]),
        event(5, pv.QUALIFYING, suite="triage-eval@1.0.0", run="r2"),
        event(6, pv.FAILED, run="r2", detail="HTTP 503"),
        event(7, pv.DELISTED),
    ]
    record = pv.fold(events)["openai/gpt-5-mini-2026-06-01"]
    assert (record.status, record.verdict, record.score) == ("failed", "qualified", 0.93)
    assert record.first_seen == "2026-06-01T00:00:00.000000Z" and record.updated.startswith("2026-06-07")
    assert record.family == "gpt-5-mini" and record.shutdown_date == "2027-01-01"
    assert record.drafts == ("app@2.0.0",) and record.detail == "HTTP 503"
    assert record.open_runs == () and record.listed is False
    assert (record.first_seq, record.last_seq) == (1, 7)


def test_fold_skips_payloads_it_does_not_understand():
    weird = {"seq": 1, "type": pv.PROVIDER_SNAPSHOT, "time": "t", "payload": {"provider": "openai", "status": "teleported"}}
    assert pv.fold([weird]) == {}


def test_transitions():
    seen = pv.fold([event(1, pv.SEEN)])["openai/gpt-5-mini-2026-06-01"]
    payload = pv.snapshot_payload("openai", "gpt-5-mini-2026-06-01", pv.SEEN)
    pv.check_transition(None, payload)
    with pytest.raises(Refused, match="already seen"):
        pv.check_transition(seen, payload)
    verdict = pv.snapshot_payload("openai", "gpt-5-mini-2026-06-01", pv.QUALIFIED, suite="s@1.0.0", run="r9",
                                  score=0.9)
    with pytest.raises(Refused, match="no qualification run 'r9'"):
        pv.check_transition(seen, verdict)
    with pytest.raises(Refused, match="has not been seen"):
        pv.check_transition(None, verdict)
    with pytest.raises(Refused, match="nothing to relist"):
        pv.check_transition(seen, pv.snapshot_payload("openai", "gpt-5-mini-2026-06-01", pv.RELISTED))


def test_newer_by_first_seen_then_by_the_ids_date():
    a = pv.SnapshotRecord("p", "m-2026-05-01", first_seen="2026-06-01T00:00:00Z")
    b = pv.SnapshotRecord("p", "m-2026-06-01", first_seen="2026-06-01T00:00:00Z")
    c = pv.SnapshotRecord("p", "m-2026-04-01", first_seen="2026-07-01T00:00:00Z")
    assert pv.is_newer(b, a) and not pv.is_newer(a, b)
    assert pv.is_newer(c, b)  # seen later wins over the id
    assert pv.is_newer(a, None)
    assert pv.natural_key("m-2026-10-01") > pv.natural_key("m-2026-9-30")


def test_change_log_orders_and_filters():
    events = [event(1, pv.SEEN, snapshot="gpt-5-mini-2026-06-01", family="mini"),
              event(1, pv.SEEN, snapshot="gpt-5-mini-2026-05-01", family="mini"),
              {**event(2, pv.SEEN, snapshot="gpt-5-2026-06-01", family="big")}]
    rows = pv.change_log(pv.fold(events))
    assert [r.snapshot for r in rows] == ["gpt-5-2026-06-01", "gpt-5-mini-2026-05-01", "gpt-5-mini-2026-06-01"]
    assert [r.snapshot for r in pv.change_log(pv.fold(events), family="big")] == ["gpt-5-2026-06-01"]
