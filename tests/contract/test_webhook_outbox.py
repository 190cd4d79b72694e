"""Webhook subscriptions as registry state, on every store (SQLite, PostgreSQL, memory): the
outbox rows live and die with their event's transaction, subscriptions are audited events the
projection check covers, and the secret and URL path never reach the log."""
from __future__ import annotations

import pytest

from contract.backends import MemoryBackend, sql_only
from contract.scenario import AUTHOR, NAME, configure, spec, to_production, version_n
from llmreg.registry import events as ev
from llmreg.registry.audit_check import verify_store
from llmreg.registry.errors import BadInput, Conflict, Forbidden, GateFailed, NotFound

SECRET = "k" * 24
URL = "https://hooks.example.com/services/T000/B000/XXXXSECRETPATH?token=abc"


def queued(reg) -> list[tuple[str, str, str | None]]:
    return [(sub, event["type"], (event.get("data") or {}).get("stage")) for _, sub, event in reg.store.outbox_rows()]


def test_matching_committed_events_are_queued_in_order_and_others_are_not(reg):
    configure(reg)
    sub = reg.add_webhook(URL, "stage.promoted,gate.failed", secret=SECRET, name_pattern="support-*", actor="admin")
    everything = reg.add_webhook("http://127.0.0.1:9/all", "*", secret=SECRET, actor="admin", id="all")
    reg.register(version_n(0), actor=AUTHOR)
    reg.register(spec(name="other-bot"), actor=AUTHOR)
    to_production(reg, "1.0.0")
    reg.promote("other-bot", "1.0.0", "staging", actor="ci")  # not support-*: only `all` gets it
    mine = [row for row in queued(reg) if row[0] == sub.id]
    assert mine == [(sub.id, "stage.promoted", "staging"), (sub.id, "stage.promoted", "canary"),
                    (sub.id, "stage.promoted", "production")]
    rows = reg.store.outbox_rows()
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)  # ids follow the log
    seqs = [event["seq"] for _, s, event in rows if s == "all"]
    assert seqs == list(range(everything.seq, reg.head_seq() + 1))  # every event from its own subscription on
    first = next(event for _, s, event in rows if s == sub.id)
    stored = reg.events(types=("stage.promoted",))[0]
    assert first == {"seq": stored.seq, "type": "stage.promoted", "name": NAME, "version": "1.0.0", "env": "default",
                     "actor": "ci", "at": stored.time, "data": dict(stored.payload)}


def test_a_rolled_back_write_queues_nothing_and_a_committed_refusal_is_queued(reg):
    configure(reg)
    reg.add_webhook(URL, "*", secret=SECRET, actor="admin", id="ops")
    reg.register(version_n(0), actor=AUTHOR)
    before = reg.store.outbox_rows()
    with pytest.raises(RuntimeError):
        with reg.store.unit_of_work() as uow:
            uow.append(ev.STAGE_PROMOTED, actor="ci", name=NAME, version="1.0.0", env="default",
                       payload={"stage": "staging"})
            raise RuntimeError("the write failed after its event was appended")
    assert reg.store.outbox_rows() == before
    assert reg.head_seq() == before[-1][2]["seq"]
    with pytest.raises(GateFailed):  # the gate's verdict commits (CommitThenRaise), so its delivery does too
        reg.promote(NAME, "1.0.0", "canary", actor="ci")
    verdicts = [row[1] for row in queued(reg)[len(before):]]
    assert "gate.failed" in verdicts and set(verdicts) <= {"gate.failed", "gate.passed"}
    assert "stage.promoted" not in verdicts


def test_subscriptions_are_audited_events_and_the_projection_check_covers_them(reg):
    sub = reg.add_webhook(URL, ["stage.rolled_back"], secret=SECRET, actor="admin", format="slack", max_attempts=3)
    assert [s.to_dict() for s in reg.webhook_subscriptions()] == [sub.to_dict()]
    assert sub.origin == "https://hooks.example.com" and sub.format == "slack" and sub.max_attempts == 3
    event = reg.events(types=(ev.WEBHOOK_SUBSCRIBED,))[0]
    assert event.signer is not None and event.actor == "admin"
    text = " ".join(str(row) for row in reg.store.iter_event_rows())
    assert SECRET not in text and "XXXXSECRETPATH" not in text and "token=abc" not in text
    assert reg.store.webhook_endpoint(sub.id) == (URL, SECRET)
    assert reg.store.head().config_seq == event.seq  # caches keyed on it see the change
    assert verify_store(reg.store).ok
    removed = reg.remove_webhook(sub.id, actor="admin")
    assert removed.type == ev.WEBHOOK_UNSUBSCRIBED and reg.store.head().config_seq == removed.seq
    assert reg.webhook_subscriptions() == [] and reg.store.webhook_endpoint(sub.id) is None
    assert verify_store(reg.store).ok
    reg.rebuild_projection()
    assert reg.webhook_subscriptions() == [] and verify_store(reg.store).ok


def test_bad_subscriptions_are_one_line_naming_the_field_and_write_nothing(reg):
    head = reg.head_seq()
    for kwargs, field in [({"events": "stage.promotd"}, "events"), ({"events": ""}, "events"),
                          ({"url": "ftp://x/y"}, "url"), ({"url": "https://u:p@x/y"}, "url"),
                          ({"secret": "short"}, "secret"), ({"format": "teams"}, "format"),
                          ({"max_attempts": 0}, "max_attempts"), ({"id": "../x"}, "id"),
                          ({"events": "stage.promoted,stage.promoted"}, "events")]:
        args = {"url": URL, "events": "stage.promoted", "secret": SECRET, **kwargs}
        with pytest.raises(BadInput) as info:
            reg.add_webhook(args.pop("url"), args.pop("events"), actor="admin", **args)
        assert info.value.field == field and "\n" not in str(info.value)
    assert reg.head_seq() == head and reg.webhook_subscriptions() == []
    reg.add_webhook(URL, "*", secret=SECRET, actor="admin", id="ops")
    with pytest.raises(Conflict):
        reg.add_webhook(URL, "*", secret=SECRET, actor="admin", id="ops")
    with pytest.raises(NotFound):
        reg.remove_webhook("nope", actor="admin")
    assert [s.id for s in reg.webhook_subscriptions()] == ["ops"]


def test_only_a_member_who_may_configure_subscribes_and_the_refusal_is_recorded(reg):
    reg.configure_roles({"roles": {"admin": ["*"], "author": ["register"]},
                         "members": {"admin": ["admin"], "alice": ["author"]}}, actor="admin")
    with pytest.raises(Forbidden):
        reg.add_webhook(URL, "*", secret=SECRET, actor="alice")
    assert reg.webhook_subscriptions() == []
    assert reg.events(types=(ev.ACTION_REFUSED,))[-1].payload["action"] == "configure"
    sub = reg.add_webhook(URL, "*", secret=SECRET, actor="admin")
    with pytest.raises(Forbidden):
        reg.remove_webhook(sub.id, actor="alice")
    assert verify_store(reg.store).ok


def test_a_subscription_added_by_another_process_is_seen_by_the_next_write(open_registry, backend):
    if isinstance(backend, MemoryBackend):
        pytest.skip("one store object: nothing cached to go stale")
    writer = open_registry()
    configure(writer)
    writer.register(version_n(0), actor=AUTHOR)  # its routes cache is now loaded: nobody subscribed
    other = open_registry()  # another store object: its own cache, like another process
    other.add_webhook(URL, "stage.promoted", secret=SECRET, actor="admin", id="ops")
    writer.promote(NAME, "1.0.0", "staging", actor="ci")
    assert queued(writer) == [("ops", "stage.promoted", "staging")]
    other.remove_webhook("ops", actor="admin")
    writer.register(version_n(1), actor=AUTHOR)
    writer.promote(NAME, "1.0.1", "staging", actor="ci")
    assert queued(writer) == [("ops", "stage.promoted", "staging")]  # removed: nothing more queued


def test_an_edited_subscription_table_fails_the_audit_until_rebuilt(reg, backend):
    sql_only(reg)
    reg.add_webhook(URL, "stage.promoted", secret=SECRET, actor="admin", id="ops")
    conn = backend.connect()
    try:
        conn.execute("UPDATE webhook_subscriptions SET events = '[\"*\"]' WHERE id = 'ops'")  # autocommit
    finally:
        conn.close()
    report = verify_store(reg.store)
    assert not report.ok and "webhook_subscriptions" in report.reason
    reg.rebuild_projection()
    assert verify_store(reg.store).ok and reg.webhook_subscriptions()[0].events == ("stage.promoted",)


def test_0008_round_trip_gives_an_older_release_its_head_and_folds_the_log_back(open_registry, backend):
    from llmreg.registry.store import migrate

    reg = open_registry()
    sql_only(reg)
    configure(reg)
    gates_seq = reg.head_seq()
    kept = reg.add_webhook(URL, "stage.promoted", secret=SECRET, actor="admin", id="kept")
    gone = reg.add_webhook(URL, "*", secret=SECRET, actor="admin", id="gone")
    reg.remove_webhook(gone.id, actor="admin")
    reg.register(version_n(0), actor=AUTHOR)
    before = reg.store.dump_projection()
    url = reg.store.url
    reg.close()

    migrate.downgrade(url, "0007")
    conn = backend.connect()
    try:  # what 0007's code folds from this log: config_seq moves on roles and gates only
        assert conn.execute("SELECT config_seq FROM head").fetchone()[0] == gates_seq
    finally:
        conn.close()
    again = open_registry()  # upgrades to head: 0008 folds the webhook events back
    assert again.store.dump_projection() == before
    assert [s.id for s in again.webhook_subscriptions()] == [kept.id]
    assert again.store.head().config_seq > gates_seq
    assert verify_store(again.store).ok
