"""The outbox port's contract: the in-memory fake and the SQL outbox on SQLite and PostgreSQL."""
from __future__ import annotations

import pytest
from sqlalchemy import create_engine

from llmreg.notify.outbox import DELIVERED, FAILED, MemoryOutbox
from llmreg.notify.sql_outbox import SqlOutbox
from llmreg.registry.store.sql import SQLStore
from tests.contract.backends import make_backend


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def outbox(request, tmp_path):
    if request.param == "memory":
        yield MemoryOutbox()
        return
    backend = make_backend(request.param, tmp_path)
    SQLStore(backend.url).close()  # the registry's migrations create the outbox tables (0008)
    engine = create_engine(backend.url)
    yield SqlOutbox(engine)
    engine.dispose()
    backend.drop()


def test_pending_is_in_id_order_and_delivered_items_leave_it(outbox):
    ids = [outbox.add("a", {"seq": n, "type": "stage.promoted", "data": {"to": "production"}}) for n in range(3)]
    assert [i.id for i in outbox.pending()] == ids
    assert outbox.pending()[0].event == {"seq": 0, "type": "stage.promoted", "data": {"to": "production"}}
    outbox.mark_delivered(ids[1], 204, at=10.0)
    assert [i.id for i in outbox.pending()] == [ids[0], ids[2]]
    assert [i.id for i in outbox.pending(1)] == [ids[0]]
    other = outbox.add("b", {"seq": 9, "type": "gate.failed"})
    assert [i.id for i in outbox.pending(skip={"a"})] == [other]
    assert outbox.item(ids[1]).state == DELIVERED


def test_failed_items_stay_pending_until_given_up_and_every_attempt_is_logged(outbox):
    ident = outbox.add("a", {"seq": 1, "type": "gate.failed"})
    outbox.mark_failed(ident, "HTTP 500", 20.0, at=10.0, status=500)
    item = outbox.pending()[0]
    assert (item.attempts, item.next_attempt_at, item.last_error) == (1, 20.0, "HTTP 500")
    outbox.mark_failed(ident, "timeout", None, at=21.0)
    assert outbox.pending() == [] and outbox.item(ident).state == FAILED
    log = outbox.attempts("a")
    assert [(a.item_id, a.attempt, a.ok, a.status, a.retry_at, a.event_seq) for a in log] == [
        (ident, 1, False, 500, 20.0, 1), (ident, 2, False, None, None, 1)]
    assert outbox.attempts("other") == []


def test_a_claim_is_a_compare_and_set_on_the_due_time(outbox):
    ident = outbox.add("a", {"seq": 1, "type": "gate.failed"})
    seen = outbox.pending()[0].next_attempt_at
    assert outbox.claim(ident, seen, 50.0)
    assert not outbox.claim(ident, seen, 60.0)  # a second worker that read the same row loses
    assert outbox.pending()[0].next_attempt_at == 50.0  # not due before then: others wait behind it
    assert outbox.claim(ident, 50.0, 70.0)  # after a dead holder's claim runs out, another takes it
    outbox.mark_delivered(ident, 204, at=71.0)
    assert not outbox.claim(ident, 70.0, 90.0)  # delivered items are not claimed again
