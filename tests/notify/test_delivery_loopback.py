"""The delivery worker against a real HTTP receiver on loopback."""
from __future__ import annotations

import json
import random
import socket
import time

import pytest

from llmreg.notify.delivery import DeliveryWorker, RetrySchedule
from llmreg.notify.outbox import FAILED, MemoryOutbox
from llmreg.notify.signing import ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, signed_string, verify
from llmreg.notify.subscriptions import Subscription
from tests.notify.webhook_receiver import WebhookReceiver

SECRET = "k" * 32
FAST = RetrySchedule(base_s=0.01, cap_s=0.05, jitter=0.0)


@pytest.fixture
def receiver():
    with WebhookReceiver() as server:
        yield server


def subscription(url, **kw):
    data = {"id": "ops", "url": url, "events": ["*"], "secret": SECRET}
    data.update(kw)
    return Subscription.parse(data)


def event(seq, kind="stage.promoted", **kw):
    return {"seq": seq, "type": kind, "name": "support-bot", "version": "1.2.0", "env": "prod", "actor": "alice",
            "at": "2026-12-05T18:00:00Z", "data": {"to": "production"}, **kw}


def test_signature_verifies_over_the_received_bytes(receiver):
    outbox = MemoryOutbox()
    ident = outbox.add("ops", event(7))
    report = DeliveryWorker(outbox, {"ops": subscription(receiver.url("/hook"))}).drain(within_s=5)
    assert report.delivered == [ident]
    [got] = receiver.received("/hook")
    headers, body = got["headers"], got["body"]
    assert headers[ID_HEADER] == str(ident) and headers[SIGNATURE_HEADER].startswith("v1,")
    assert verify(SECRET, headers, body, now=time.time())
    assert not verify("x" * 32, headers, body, now=time.time())              # another secret
    assert not verify(SECRET, headers, body + b" ", now=time.time())         # another body
    assert not verify(SECRET, headers, body, now=time.time() + 3600)         # a replay an hour later
    import hashlib
    import hmac
    expected = hmac.new(SECRET.encode(), signed_string(ident, int(headers[TIMESTAMP_HEADER]), body), hashlib.sha256)
    assert headers[SIGNATURE_HEADER] == "v1," + expected.hexdigest()         # the documented signed string
    envelope = json.loads(body)
    assert envelope["delivery_id"] == ident and envelope["event"]["seq"] == 7 and envelope["subscription"] == "ops"


def test_retries_after_500s_with_the_same_delivery_and_logs_every_attempt(receiver):
    receiver.scripts["/hook"] = [500, 503]
    outbox = MemoryOutbox()
    ident = outbox.add("ops", event(1))
    report = DeliveryWorker(outbox, {"ops": subscription(receiver.url("/hook"))}, schedule=FAST).drain(within_s=5)
    assert report.delivered == [ident] and report.retrying == [ident, ident]
    got = receiver.received("/hook")
    assert [r["status"] for r in got] == [500, 503, 200]
    assert len({r["body"] for r in got}) == 1 and {r["headers"][ID_HEADER] for r in got} == {str(ident)}
    log = outbox.attempts("ops")
    assert [(a.attempt, a.ok, a.status) for a in log] == [(1, False, 500), (2, False, 503), (3, True, 200)]
    assert log[0].retry_at is not None and log[0].retry_at >= log[0].at + 0.01


def test_order_per_subscription_holds_while_its_head_waits_and_other_subscriptions_go_on(receiver):
    receiver.scripts["/a"] = [500]
    subs = {"a": subscription(receiver.url("/a"), id="a"), "b": subscription(receiver.url("/b"), id="b")}
    outbox = MemoryOutbox()
    a1, b1, a2, b2 = outbox.add("a", event(1)), outbox.add("b", event(2)), outbox.add("a", event(3)), outbox.add("b", event(4))
    worker = DeliveryWorker(outbox, subs, schedule=RetrySchedule(base_s=0.2, jitter=0.0))
    first = worker.run_once()
    assert first.delivered == [b1, b2] and first.retrying == [a1] and first.waiting == 1
    assert [json.loads(r["body"])["event"]["seq"] for r in receiver.received("/a")] == [1]  # a2 not sent before a1
    worker.drain(within_s=5)
    assert [json.loads(r["body"])["event"]["seq"] for r in receiver.received("/a")] == [1, 1, 3]
    assert outbox.pending() == []


def test_gives_up_after_max_attempts_then_the_next_item_goes(receiver):
    receiver.scripts["/hook"] = [500, 500, 500]
    outbox = MemoryOutbox()
    first, second = outbox.add("ops", event(1)), outbox.add("ops", event(2))
    sub = subscription(receiver.url("/hook"), max_attempts=2)
    report = DeliveryWorker(outbox, {"ops": sub}, schedule=FAST).drain(within_s=5)
    assert report.given_up == [first] and outbox.item(first).state == FAILED
    assert "gave up after 2 attempts" in outbox.item(first).last_error
    assert second in report.delivered  # 3rd scripted 500 hits it once, then it succeeds


def test_a_receiver_that_is_down_is_a_logged_transport_error_and_a_retry():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed when the block ends: nothing listens there
    outbox = MemoryOutbox()
    ident = outbox.add("ops", event(1))
    report = DeliveryWorker(outbox, {"ops": subscription(f"http://127.0.0.1:{port}/x")}, schedule=FAST).run_once()
    assert report.retrying == [ident]
    [attempt] = outbox.attempts()
    assert attempt.status is None and "refused" in attempt.error.lower()
    assert outbox.item(ident).next_attempt_at == pytest.approx(attempt.at + 0.01)


def test_slack_format_is_an_incoming_webhook_message(receiver):
    outbox = MemoryOutbox()
    outbox.add("ops", event(9, kind="stage.rolled_back", data={"to": "1.1.0", "summary": "p99 over SLO"}))
    DeliveryWorker(outbox, {"ops": subscription(receiver.url("/slack"), format="slack")}).drain(within_s=5)
    [got] = receiver.received("/slack")
    message = json.loads(got["body"])
    assert set(message) == {"text", "blocks"}
    assert message["text"] == "llmreg stage.rolled_back: support-bot 1.2.0 -> 1.1.0 (prod) by alice: p99 over SLO"
    assert message["blocks"][0] == {"type": "section", "text": {"type": "mrkdwn", "text": f"*{message['text']}*"}}
    assert verify(SECRET, got["headers"], got["body"], now=time.time())  # signed like any other delivery


def test_a_deleted_subscription_gives_its_items_up_instead_of_blocking():
    outbox = MemoryOutbox()
    ident = outbox.add("gone", event(1))
    report = DeliveryWorker(outbox, {}).run_once()
    assert report.given_up == [ident] and "no longer exists" in outbox.item(ident).last_error


@pytest.mark.parametrize("attempt, low, high", [(1, 1.0, 2.0), (2, 2.0, 4.0), (3, 4.0, 8.0), (20, 30.0, 60.0)])
def test_backoff_doubles_with_jitter_below_the_plain_delay_and_is_capped(attempt, low, high):
    schedule = RetrySchedule(base_s=2.0, cap_s=60.0, jitter=0.5)
    rng = random.Random(1)
    delays = [schedule.delay(attempt, rng) for _ in range(200)]
    assert all(low <= d <= high for d in delays)
    assert len({round(d, 6) for d in delays}) > 100  # jittered, not one fixed value


def test_a_long_queue_behind_a_failing_head_does_not_starve_other_subscriptions(receiver):
    receiver.scripts["/a"] = [500]
    subs = {"a": subscription(receiver.url("/a"), id="a"), "b": subscription(receiver.url("/b"), id="b")}
    outbox = MemoryOutbox()
    for n in range(30):
        outbox.add("a", event(n))
    b = outbox.add("b", event(99))
    report = DeliveryWorker(outbox, subs, schedule=RetrySchedule(base_s=60)).run_once(limit=10)
    assert report.delivered == [b] and len(receiver.received("/a")) == 1
