"""The outbox port's contract. The SQL outbox joins OUTBOXES when it lands."""
from __future__ import annotations

import pytest

from llmreg.notify.outbox import DELIVERED, FAILED, MemoryOutbox

OUTBOXES = {"memory": MemoryOutbox}


@pytest.fixture(params=sorted(OUTBOXES))
def outbox(request):
    return OUTBOXES[request.param]()


def test_pending_is_in_id_order_and_delivered_items_leave_it(outbox):
    ids = [outbox.add("a", {"seq": n, "type": "stage.promoted"}) for n in range(3)]
    assert [i.id for i in outbox.pending()] == ids
    outbox.mark_delivered(ids[1], 204, at=10.0)
    assert [i.id for i in outbox.pending()] == [ids[0], ids[2]]
    assert outbox.item(ids[1]).state == DELIVERED


def test_failed_items_stay_pending_until_given_up_and_every_attempt_is_logged(outbox):
    ident = outbox.add("a", {"seq": 1, "type": "gate.failed"})
    outbox.mark_failed(ident, "HTTP 500", 20.0, at=10.0, status=500)
    item = outbox.pending()[0]
    assert (item.attempts, item.next_attempt_at, item.last_error) == (1, 20.0, "HTTP 500")
    outbox.mark_failed(ident, "timeout", None, at=21.0)
    assert outbox.pending() == [] and outbox.item(ident).state == FAILED
    log = outbox.attempts("a")
    assert [(a.attempt, a.ok, a.status, a.retry_at) for a in log] == [(1, False, 500, 20.0), (2, False, None, None)]
    assert outbox.attempts("other") == []
