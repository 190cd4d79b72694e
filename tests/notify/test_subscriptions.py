from __future__ import annotations

import pytest

from llmreg.notify.outbox import rows_for
from llmreg.notify.subscriptions import Subscription
from llmreg.registry.errors import BadInput

SECRET = "s" * 32


def sub(**kw):
    data = {"id": "ops", "url": "https://hooks.example.com/x", "events": ["stage.promoted"], "secret": SECRET}
    data.update(kw)
    return Subscription.parse(data, source="webhooks.yaml", prefix="webhooks[0]")


@pytest.mark.parametrize("change, field", [
    ({"url": "ftp://x/y"}, "webhooks[0].url"),
    ({"url": "https://user:pw@x/y"}, "webhooks[0].url"),
    ({"events": ["stage.promotd"]}, "webhooks[0].events"),
    ({"events": []}, "webhooks[0].events"),
    ({"secret": "short"}, "webhooks[0].secret"),
    ({"format": "teams"}, "webhooks[0].format"),
    ({"evnts": ["*"]}, "webhooks[0].evnts"),
])
def test_bad_subscription_is_one_line_naming_the_field(change, field):
    with pytest.raises(BadInput) as info:
        sub(**change)
    assert info.value.field == field
    assert "\n" not in str(info.value) and str(info.value).startswith("webhooks.yaml: " + field)


@pytest.mark.parametrize("events, pattern, kind, name, expected", [
    (["stage.promoted"], "*", "stage.promoted", "bot", True),
    (["stage.promoted"], "*", "gate.failed", "bot", False),
    (["*"], "support-*", "gate.failed", "support-bot", True),
    (["*"], "support-*", "gate.failed", "sales-bot", False),
    (["*"], "support-*", "config.gates", None, False),
])
def test_matching(events, pattern, kind, name, expected):
    assert sub(events=events, name_pattern=pattern).matches(kind, name) is expected


def test_inactive_matches_nothing_and_secret_stays_out_of_public_view_and_repr():
    s = sub(active=False)
    assert not s.matches("stage.promoted", "bot")
    assert "secret" not in s.public() and SECRET not in repr(s) and SECRET not in str(s.public())


def test_rows_for_fans_out_to_matching_subscriptions_only():
    subs = [sub(id="a"), sub(id="b", events=["gate.failed"]), sub(id="c", events=["*"], name_pattern="x*")]
    event = {"seq": 5, "type": "stage.promoted", "name": "xbot"}
    assert [sid for sid, _ in rows_for(event, subs)] == ["a", "c"]
