"""Webhooks end to end on SQLite and PostgreSQL: registry writes queue deliveries in their own
transaction, the sender (Python API and `llmreg webhooks deliver`) POSTs them to a real HTTP
receiver on loopback, signed, in order, retried; a sender killed with SIGKILL loses nothing."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from cli.test_cli import Cli
from contract.backends import make_backend
from contract.scenario import AUTHOR, NAME, configure, spec, to_production, version_n
from llmreg.notify.delivery import RetrySchedule
from llmreg.notify.outbox import DELIVERED, PENDING
from llmreg.notify.sender import Sender
from llmreg.notify.signing import ID_HEADER, verify
from llmreg.registry import events as ev
from llmreg.registry.api import Registry
from tests.notify.webhook_receiver import WebhookReceiver

SECRET = "whsec-" + "k" * 26
FAST = RetrySchedule(base_s=0.02, cap_s=0.1, jitter=0.0)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request, tmp_path):
    backend = make_backend(request.param, tmp_path)
    yield backend.url
    backend.drop()


@pytest.fixture
def open_reg(store_url, tmp_path):
    opened = []

    def factory() -> Registry:
        reg = Registry.open(store_url, artifacts=str(tmp_path / "artifacts"))
        opened.append(reg)
        return reg
    yield factory
    for reg in opened:
        reg.close()


@pytest.fixture
def receiver():
    with WebhookReceiver() as server:
        yield server


def bodies(receiver, path: str) -> list[dict]:
    return [json.loads(r["body"]) for r in receiver.received(path)]


def test_committed_events_arrive_signed_in_log_order_filtered_by_type_and_name(open_reg, receiver):
    reg = open_reg()
    configure(reg)
    reg.add_webhook(receiver.url("/hook"), "stage.promoted,stage.rolled_back", secret=SECRET,
                    name_pattern="support-*", actor="admin", id="ops")
    reg.add_webhook(receiver.url("/slack"), "stage.rolled_back", secret=SECRET, format="slack", actor="admin",
                    id="chat")
    reg.register(version_n(0), actor=AUTHOR)
    reg.register(version_n(1), actor=AUTHOR)
    reg.register(spec(name="other-bot"), actor=AUTHOR)
    to_production(reg, "1.0.0")
    to_production(reg, "1.0.1")
    reg.rollback(NAME, actor="oncall", reason="latency regression")
    reg.promote("other-bot", "1.0.0", "staging", actor="ci")  # not support-*
    with Sender(reg.store, schedule=FAST) as sender:
        report = sender.drain(20)
    assert report.retrying == [] and report.given_up == []
    got = receiver.received("/hook")
    events = [b["event"] for b in bodies(receiver, "/hook")]
    assert [(e["type"], e["version"], e["data"].get("stage")) for e in events] == [
        ("stage.promoted", "1.0.0", "staging"), ("stage.promoted", "1.0.0", "canary"),
        ("stage.promoted", "1.0.0", "production"),
        ("stage.promoted", "1.0.1", "staging"), ("stage.promoted", "1.0.1", "canary"),
        ("stage.promoted", "1.0.1", "production"), ("stage.rolled_back", "1.0.0", "production")]
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs) and {e["name"] for e in events} == {NAME}
    logged = {e.seq: e for e in reg.events(types=("stage.promoted", "stage.rolled_back"))}
    assert all(logged[e["seq"]].hash and logged[e["seq"]].type == e["type"] for e in events)
    for request in got:
        assert verify(SECRET, request["headers"], request["body"], now=time.time())
        assert not verify("another-secret-of-length", request["headers"], request["body"], now=time.time())
    ids = [int(r["headers"][ID_HEADER]) for r in got]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    [slack] = bodies(receiver, "/slack")
    assert slack["text"].startswith(f"llmreg stage.rolled_back: {NAME} 1.0.0") and "by oncall" in slack["text"]
    assert slack["blocks"][0]["type"] == "section"


def test_a_failing_receiver_gets_retries_of_the_same_delivery_and_later_events_wait_behind_it(open_reg, receiver):
    reg = open_reg()
    reg.add_webhook(receiver.url("/hook"), "entry.registered", secret=SECRET, actor="admin", id="ops",
                    max_attempts=5)
    receiver.scripts["/hook"] = [500, 503, 500]
    reg.register(version_n(0), actor=AUTHOR)
    reg.register(version_n(1), actor=AUTHOR)
    with Sender(reg.store, schedule=FAST) as sender:
        report = sender.drain(20)
        log = sender.outbox.attempts("ops")
    first, second = report.delivered
    got = receiver.received("/hook")
    assert [int(r["headers"][ID_HEADER]) for r in got] == [first] * 4 + [second]  # nothing overtakes the head
    assert [r["status"] for r in got] == [500, 503, 500, 200, 200]
    assert [(a.item_id, a.attempt, a.ok, a.status) for a in log] == [
        (first, 1, False, 500), (first, 2, False, 503), (first, 3, False, 500), (first, 4, True, 200),
        (second, 1, True, 200)]
    assert all(a.retry_at is not None and a.retry_at > a.at for a in log if not a.ok)
    assert [b["event"]["version"] for b in bodies(receiver, "/hook")] == ["1.0.0"] * 4 + ["1.0.1"]


def test_an_event_whose_transaction_rolled_back_is_never_sent(open_reg, receiver):
    reg = open_reg()
    reg.add_webhook(receiver.url("/hook"), "*", secret=SECRET, actor="admin", id="ops")
    reg.register(version_n(0), actor=AUTHOR)
    with pytest.raises(RuntimeError):
        with reg.store.unit_of_work() as uow:
            uow.append(ev.EVIDENCE_RECORDED, actor="ci", name=NAME, version="1.0.0", env="default",
                       payload={"kind": "rolled-back-marker", "data": {}})
            raise RuntimeError("the write failed after appending its event")
    reg.register(version_n(1), actor=AUTHOR)  # takes the seq the rolled-back event had
    with Sender(reg.store, schedule=FAST) as sender:
        sender.drain(10)
    sent = [b["event"] for b in bodies(receiver, "/hook")]
    assert [e["type"] for e in sent] == ["webhook.subscribed", "entry.registered", "entry.registered"]
    assert "rolled-back-marker" not in json.dumps(sent)
    assert [e["seq"] for e in sent] == list(range(1, reg.head_seq() + 1))


def test_an_endpoint_changed_outside_the_log_is_not_sent_to(open_reg, receiver, store_url):
    reg = open_reg()
    reg.add_webhook(receiver.url("/hook"), "entry.registered", secret=SECRET, actor="admin", id="ops")
    reg.register(version_n(0), actor=AUTHOR)
    from sqlalchemy import create_engine, text

    engine = create_engine(store_url)
    with engine.begin() as conn:  # someone with table access redirects the deliveries
        conn.execute(text("UPDATE webhook_secrets SET url = :u"), {"u": receiver.url("/attacker")})
    engine.dispose()
    with Sender(reg.store, schedule=FAST) as sender:
        report = sender.drain(5)
        [attempt] = sender.outbox.attempts("ops")
    assert receiver.received() == [] and len(report.given_up) == 1
    assert "changed outside the log" in attempt.error


def _cli(store_url: str, tmp_path) -> Cli:
    cli = Cli(tmp_path)
    cli.env["LLMREG_STORE"] = store_url
    cli.env["LLMREG_ARTIFACTS"] = str(tmp_path / "artifacts")
    cli.env["PYTHONPATH"] = os.getcwd() + os.pathsep + cli.env.get("PYTHONPATH", "")
    return cli


@pytest.mark.slow
def test_cli_add_deliver_deliveries_remove_with_a_file_secret(open_reg, receiver, store_url, tmp_path):
    cli = _cli(store_url, tmp_path)
    (tmp_path / "hook.secret").write_text(SECRET + "\n")
    reg = open_reg()
    configure(reg)
    head = reg.head_seq()
    for args, field in [(["--events", "stage.promotd"], "events"), (["--events", "*", "--format", "teams"], "format"),
                        (["--events", "*", "--secret-env", "LLMREG_TEST_UNSET_SECRET"], "secret-env"),
                        (["--events", "*", "--secret-file", str(tmp_path / "missing")], "secret-file")]:
        done = cli("webhooks", "add", receiver.url("/hook"), *args, actor="admin", code=2, as_json=True)
        assert done.data["field"] == field and done.stderr.count("\n") == 1
    assert reg.head_seq() == head and reg.webhook_subscriptions() == []  # no partial write
    added = cli("webhooks", "add", receiver.url("/hook"), "--events", "stage.promoted,gate.failed", "--name",
                "support-*", "--secret-file", "hook.secret", actor="admin", as_json=True).data
    assert "secret" not in added and added["events"] == ["stage.promoted", "gate.failed"]
    reg.register(version_n(0), actor=AUTHOR)
    to_production(reg, "1.0.0")
    listed = cli("webhooks", "list", as_json=True).data
    assert [(s["id"], s["deliveries"]["pending"]) for s in listed] == [(added["id"], 3)]
    sent = cli("webhooks", "deliver", "--once", as_json=True).data
    assert len(sent["delivered"]) == 3 and sent["pending"] == 0
    for request in receiver.received("/hook"):
        assert verify(SECRET, request["headers"], request["body"], now=time.time())
    log = cli("webhooks", "deliveries", "--json").stdout
    data = json.loads(log)
    assert [a["event_type"] for a in data["attempts"]] == ["stage.promoted"] * 3
    assert data["deliveries"] == {"pending": 0, "delivered": 3, "failed": 0}
    text = cli("webhooks", "deliveries").stdout
    assert "ok 200" in text and "3 delivered" in text
    cli("webhooks", "remove", "nope", actor="admin", code=1)
    cli("webhooks", "remove", added["id"], actor="admin")
    assert cli("webhooks", "list", as_json=True).data == []
    assert "audit ok" in cli("audit", "verify").stdout
    generated = cli("webhooks", "add", receiver.url("/other"), "--events", "*", actor="admin", as_json=True).data
    assert len(generated["secret"]) == 64  # generated, shown once: not in the log
    assert all(generated["secret"] not in json.dumps(e.to_dict()) for e in reg.events())


@pytest.mark.slow
def test_a_cli_sender_killed_mid_delivery_loses_nothing_and_the_next_one_resends(open_reg, receiver, store_url,
                                                                                   tmp_path):
    cli = _cli(store_url, tmp_path)
    reg = open_reg()
    reg.add_webhook(receiver.url("/hook"), "entry.registered", secret=SECRET, actor="admin", id="ops")
    reg.register(version_n(0), actor=AUTHOR)
    reg.register(version_n(1), actor=AUTHOR)
    first, second = (row[0] for row in reg.store.outbox_rows())
    receiver.hold.add("/hook")  # the first request hangs until the sender is dead
    proc = subprocess.Popen([sys.executable, "-m", "llmreg", "webhooks", "deliver", "--once", "--timeout", "2"],
                            cwd=tmp_path, env=cli.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not receiver.received("/hook") and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        assert receiver.received("/hook"), "the sender never sent"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    receiver.release.set()
    with Sender(reg.store) as sender:
        assert sender.outbox.item(first).state == PENDING and sender.outbox.item(first).attempts == 0
        assert sender.outbox.attempts() == []  # the killed attempt committed nothing
    # The dead sender's claim (its 2 s timeout + the margin) runs out, then the next one resends.
    sent = cli("webhooks", "deliver", "--once", "--wait", "20", as_json=True).data
    assert sent["delivered"] == [first, second]
    ids = [int(r["headers"][ID_HEADER]) for r in receiver.received("/hook")]
    assert ids == [first, first, second]  # resent with the same id: receivers deduplicate on it
    with Sender(reg.store) as sender:
        assert sender.outbox.item(second).state == DELIVERED
        assert [(a.item_id, a.ok) for a in sender.outbox.attempts()] == [(first, True), (second, True)]


@pytest.mark.slow
def test_the_looping_cli_sender_delivers_new_events_as_they_commit_and_stops_on_sigterm(open_reg, receiver,
                                                                                     store_url, tmp_path):
    cli = _cli(store_url, tmp_path)
    reg = open_reg()
    reg.add_webhook(receiver.url("/hook"), "entry.registered", secret=SECRET, actor="admin", id="ops")
    proc = subprocess.Popen([sys.executable, "-m", "llmreg", "webhooks", "deliver", "--loop", "--interval", "0.1"],
                            cwd=tmp_path, env=cli.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for n in range(3):  # each registration reaches the receiver while the sender keeps running
            reg.register(version_n(n), actor=AUTHOR)
            deadline = time.monotonic() + 30
            while len(receiver.received("/hook")) < n + 1 and time.monotonic() < deadline:
                time.sleep(0.02)
            assert len(receiver.received("/hook")) == n + 1, "the looping sender did not deliver"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0 and "Traceback" not in err
    assert "stopped; delivered 3" in err
    progress = [line for line in out.splitlines() if line[:1].isdigit()]  # "<time> delivered N, ..." per pass
    assert sum(int(line.split()[2].rstrip(",")) for line in progress) == 3
    assert [b["event"]["version"] for b in bodies(receiver, "/hook")] == ["1.0.0", "1.0.1", "1.0.2"]


def test_concurrent_writers_queue_exactly_the_events_after_a_subscription_another_store_added(open_reg):
    """Four threads write through one store (one routes cache) while another store object adds
    the subscription: every event after webhook.subscribed is queued exactly once, none before."""
    import threading

    writers, other = open_reg(), open_reg()
    errors: list[BaseException] = []
    warmed = threading.Barrier(5)  # every writer has written (its cache holds "nobody subscribed")

    def write(worker: int) -> None:
        try:
            for n in range(8):
                writers.register(spec(name=f"bot-{worker}", params={"max_tokens": 300 + n}), actor=AUTHOR)
                if n == 1:
                    warmed.wait(30)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    warmed.wait(30)
    sub = other.add_webhook("http://127.0.0.1:9/hook", "*", secret=SECRET, actor="admin", id="ops")
    for thread in threads:
        thread.join(60)
    assert errors == [] and sub.seq > 8 and writers.head_seq() == 33
    queued = [event["seq"] for _, _, event in writers.store.outbox_rows()]
    assert queued == list(range(sub.seq, 34))
