from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from llmreg.registry.drill import DrillCheck, pick_target, run_drill
from llmreg.registry.errors import NotFound

NOW = datetime(2026, 12, 5, tzinfo=timezone.utc)
D = timedelta(days=1)
HISTORY = [
    ("1.0.0", "prod", "production", NOW - 30 * D, NOW - 20 * D),
    ("1.1.0", "prod", "production", NOW - 20 * D, NOW - 10 * D),
    ("1.0.0", "prod", "production", NOW - 10 * D, NOW - 5 * D),   # a rollback to 1.0.0 once
    ("1.2.0", "prod", "production", NOW - 5 * D, None),
    ("1.1.5", "eu", "production", NOW - 3 * D, None),
    ("1.1.9", "prod", "canary", NOW - 4 * D, None),
]


@pytest.mark.parametrize("current, env, configured, target", [
    ("1.2.0", "prod", None, "1.0.0"),        # the most recent earlier holder, not the highest version
    ("1.2.0", "prod", "1.1.0", "1.1.0"),     # the configured target wins
])
def test_pick_target(current, env, configured, target):
    assert pick_target(HISTORY, current, env, configured=configured).version == target


@pytest.mark.parametrize("current, env, configured, says", [
    ("1.1.5", "eu", None, "no earlier production version in eu"),
    ("1.2.0", "prod", "1.2.0", "is the current production version"),
])
def test_no_target(current, env, configured, says):
    with pytest.raises(NotFound, match=says):
        pick_target(HISTORY, current, env, configured=configured)


def test_drill_runs_every_check_on_the_target_and_reports_each():
    seen = []

    def artifacts(version):
        seen.append(("artifacts", version))
        return True, "2 artifacts verified"

    def backend_load(version):
        raise RuntimeError("adapter shape mismatch")

    result = run_drill("bot", "prod", HISTORY, "1.2.0", now=NOW,
                       checks={"backend_load": backend_load, "refs": lambda v: DrillCheck("refs", True, "3 refs"),
                               "artifacts": artifacts})
    assert seen == [("artifacts", "1.0.0")]
    assert [c.name for c in result.checks] == ["artifacts", "refs", "backend_load"]
    assert not result.ok
    assert result.summary() == ("rollback drill bot prod: FAILED 1.2.0 -> 1.0.0: 1 of 3 checks failed: "
                                "backend_load: RuntimeError: adapter shape mismatch")
    data = result.to_event_data()
    assert data["ok"] is False and data["target"] == "1.0.0" and data["checks"][0] == {
        "name": "artifacts", "ok": True, "detail": "2 artifacts verified"}


def test_a_passing_drill_and_a_drill_without_target():
    good = run_drill("bot", "prod", HISTORY, "1.2.0", now=NOW, checks={"artifacts": lambda v: (True, "ok")})
    assert good.ok and good.summary().startswith("rollback drill bot prod: ok 1.2.0 -> 1.0.0 (previous production version")
    none = run_drill("bot", "eu", HISTORY, "1.1.5", now=NOW, checks={"artifacts": lambda v: (True, "ok")})
    assert not none.ok and none.target is None and "no earlier production version" in none.summary()
