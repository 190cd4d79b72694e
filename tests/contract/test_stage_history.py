"""Time travel answers from stage_history: the index lookup equals the fold of the log at
every moment, the table equals `fold_stage_history` of the log, and a rebuild restores it."""
from __future__ import annotations

import json

from contract.backends import sql_only
from contract.scenario import AUTHOR, NAME, configure, to_canary, to_production, version_n
from llmreg.registry import events as ev
from llmreg.registry.store.projection import fold_stage_history

STAGES = ("staging", "canary", "production")


def history_from_log(reg) -> list[tuple]:
    rows = [(seq, time, type_, name, version, env, json.loads(payload))
            for seq, time, _actor, type_, name, version, env, payload, *_ in reg.store.iter_event_rows()
            if type_ in ev.STAGE_TYPES]
    return fold_stage_history(rows)


def busy_history(reg) -> list[str]:
    """Promotions, a displaced staging holder, a weighted canary, a pulled canary, an
    archive, rollbacks, a second env; returns the log time after each step."""
    configure(reg)
    for n in range(4):
        reg.register(version_n(n), actor=AUTHOR)
    moments = [reg.store.head().time]
    steps = [
        lambda: to_production(reg, "1.0.0"),
        lambda: reg.promote(NAME, "1.0.1", "staging", actor="ci"),
        lambda: reg.promote(NAME, "1.0.2", "staging", actor="ci"),  # displaces 1.0.1
        lambda: to_canary(reg, "1.0.1", weight=0.3),
        lambda: reg.pull_canary(NAME, actor="release-bot", reason="latency"),
        lambda: to_production(reg, "1.0.2"),
        lambda: reg.rollback(NAME, actor="release-bot"),
        lambda: reg.archive(NAME, "1.0.2", actor="release-bot"),
        lambda: to_production(reg, "1.0.3", env="eu"),
        lambda: reg.rollback(NAME, actor="release-bot", to="1.0.2"),
    ]
    for step in steps:
        step()
        moments.append(reg.store.head().time)
    return moments


def test_stage_at_equals_the_fold_at_every_moment(reg):
    moments = busy_history(reg)
    times = sorted({row[1] for row in reg.store.iter_event_rows()} | set(moments))
    for moment in ["2000-01-01T00:00:00.000000Z", *times]:
        for env in ("default", "eu"):
            folded = reg.store.stages_at(NAME, env, moment)
            for stage in STAGES:
                assert (moment, env, stage, reg.store.stage_at(NAME, env, stage, moment)) == \
                    (moment, env, stage, folded.get(stage))
    # resolve --at answers from it
    assert reg.resolve(NAME, at=moments[1]).version == "1.0.0"
    assert reg.resolve(NAME, stage="canary", at=moments[4]).weight == 0.3


def test_stage_history_table_equals_the_fold_of_the_log_and_survives_a_rebuild(reg):
    sql_only(reg)
    busy_history(reg)
    stored = reg.store.dump_projection()["stage_history"]
    assert stored == history_from_log(reg)
    assert any(row[5] is None for row in stored)  # "nobody holds it" rows are kept too
    reg.rebuild_projection()
    assert reg.store.dump_projection()["stage_history"] == stored


def test_migration_0006_fills_the_table_from_an_existing_log(open_registry, reg):
    from llmreg.registry.store import migrate

    sql_only(reg)
    busy_history(reg)
    stored = reg.store.dump_projection()["stage_history"]
    url = reg.store.url
    reg.close()
    migrate.downgrade(url, "0005")
    again = open_registry()  # opening upgrades to head: 0006 folds the log into the table
    assert again.store.dump_projection()["stage_history"] == stored == history_from_log(again)
