"""kill -9 of the delivery worker: nothing is lost, the delivery is sent again (at least once)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from sqlalchemy import create_engine

from llmreg.notify.delivery import DeliveryWorker
from llmreg.notify.outbox import DELIVERED, PENDING
from llmreg.notify.sql_outbox import SqlOutbox
from llmreg.notify.subscriptions import Subscription
from llmreg.registry.store.sql import SQLStore
from tests.notify.webhook_receiver import WebhookReceiver

WORKER = """
import sys, json
from sqlalchemy import create_engine
from llmreg.notify.delivery import DeliveryWorker
from llmreg.notify.sql_outbox import SqlOutbox
from llmreg.notify.subscriptions import Subscription
from llmreg.registry.store.sql import SQLStore
sub = Subscription.parse(json.loads(sys.argv[2]))
DeliveryWorker(SqlOutbox(create_engine(sys.argv[1])), {sub.id: sub}, timeout_s=2).run_once()
"""


@pytest.mark.slow
def test_a_worker_killed_mid_delivery_leaves_the_item_pending_and_the_next_worker_sends_it(tmp_path):
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    SQLStore(url).close()  # the registry's migrations create the outbox tables (0008)
    engine = create_engine(url)
    outbox = SqlOutbox(engine)
    with WebhookReceiver() as receiver:
        spec = {"id": "ops", "url": receiver.url("/hook"), "events": ["*"], "secret": "k" * 32}
        first, second = outbox.add("ops", {"seq": 1, "type": "stage.promoted"}), outbox.add("ops", {"seq": 2, "type": "stage.promoted"})
        receiver.hold.add("/hook")  # the first request hangs until the worker is dead
        env = {**os.environ, "PYTHONPATH": os.getcwd() + os.pathsep + os.environ.get("PYTHONPATH", "")}
        proc = subprocess.Popen([sys.executable, "-c", WORKER, url, json.dumps(spec)], env=env)
        try:
            deadline = time.monotonic() + 30
            while not receiver.received("/hook") and time.monotonic() < deadline:
                time.sleep(0.02)
            assert receiver.received("/hook"), "the worker never sent"
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
        receiver.release.set()
        assert outbox.item(first).state == PENDING and outbox.item(first).attempts == 0
        assert outbox.attempts() == []  # the killed attempt never committed a log row
        sub = Subscription.parse(spec)
        # The dead worker's claim (its 2 s timeout + the margin) runs out first: then it goes again.
        report = DeliveryWorker(outbox, {"ops": sub}).drain(within_s=20)
        assert report.delivered == [first, second]
        ids = [r["headers"]["X-Llmreg-Delivery-Id"] for r in receiver.received("/hook")]
        assert ids == [str(first), str(first), str(second)]  # resent, same id: receivers deduplicate
        assert outbox.item(second).state == DELIVERED
    engine.dispose()


def test_two_workers_on_one_outbox_send_each_item_once_and_in_order(tmp_path):
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    SQLStore(url).close()
    engine = create_engine(url)
    outbox = SqlOutbox(engine)
    with WebhookReceiver() as receiver:
        spec = {"id": "ops", "url": receiver.url("/hook"), "events": ["*"], "secret": "k" * 32}
        sub = Subscription.parse(spec)
        ids = [outbox.add("ops", {"seq": n, "type": "stage.promoted"}) for n in range(40)]
        workers = [DeliveryWorker(SqlOutbox(engine), {"ops": sub}) for _ in range(2)]
        reports = []
        threads = [threading.Thread(target=lambda w=w: reports.append(w.drain(within_s=30))) for w in workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        sent = [int(r["headers"]["X-Llmreg-Delivery-Id"]) for r in receiver.received("/hook")]
    assert sent == ids  # each once, in the subscription's order, whichever worker sent it
    assert sorted(i for r in reports for i in r.delivered) == ids
    assert all(outbox.item(i).state == DELIVERED for i in ids)
    engine.dispose()
