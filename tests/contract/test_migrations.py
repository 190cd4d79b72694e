"""Migrations keep every committed event byte for byte, on SQLite and PostgreSQL.

0003 drops entries.body (entries are read from their entry.registered event) and, on
SQLite, makes events.seq the rowid by copying the log into a new table. A store written
before it must open with the same log, the same answers and an intact chain; going back
down must give an older release the schema and the body column it reads.
"""
from __future__ import annotations

import json

import pytest

from contract.backends import SqliteFile, disable_append_only, placeholder, sql_only
from contract.scenario import AUTHOR, NAME, configure, to_production, version_n
from llmreg.registry.canonical import canonical_json
from llmreg.registry.errors import GateFailed, NotFound
from llmreg.registry.store import migrate


def columns(backend, table: str) -> list[str]:
    conn = backend.connect()
    try:
        if isinstance(backend, SqliteFile):
            return [row[1] for row in conn.execute(f"PRAGMA table_info({table})").fetchall()]
        rows = conn.execute("SELECT column_name FROM information_schema.columns WHERE table_name = %s "
                            "AND table_schema = current_schema() ORDER BY ordinal_position", (table,)).fetchall()
        return [row[0] for row in rows]
    finally:
        conn.close()


def sqlite_event_indexes(backend) -> list[str]:
    conn = backend.connect()
    try:
        return sorted(row[1] for row in conn.execute("PRAGMA index_list(events)").fetchall())
    finally:
        conn.close()


def written_store(open_registry):
    """A store with a history: two versions, one in production, a refused attempt."""
    reg = open_registry()
    configure(reg)
    reg.register(version_n(0), actor=AUTHOR)
    reg.register(version_n(1), actor=AUTHOR)
    to_production(reg, "1.0.0")
    reg.promote(NAME, "1.0.1", "staging", actor="ci")
    with pytest.raises(GateFailed):  # no review yet: the failed gate is recorded all the same
        reg.promote(NAME, "1.0.1", "canary", actor="ci")
    assert reg.events(types=("gate.failed",))
    return reg


def snapshot(reg) -> dict:
    return {
        "events": list(reg.store.iter_event_rows()),
        "projection": reg.store.dump_projection(),
        "entries": [reg.get(NAME, v).to_dict() for v in reg.versions(NAME)],
        "production": reg.resolve(NAME).version,
    }


def downgraded(open_registry, revision: str) -> dict:
    """A written store taken down to `revision`; its snapshot at head, taken before."""
    reg = written_store(open_registry)
    sql_only(reg)
    before = snapshot(reg)
    reg.close()
    migrate.downgrade(reg.store.url, revision)
    return before


def test_0003_round_trip_keeps_the_log_and_the_answers(open_registry, backend):
    before = downgraded(open_registry, "0002")
    assert "body" in columns(backend, "entries")
    conn = backend.connect()
    try:  # 0002's readers find each entry's body, exactly as 0002 wrote it
        ph = placeholder(backend)
        body = conn.execute(f"SELECT body FROM entries WHERE name = {ph} AND version = {ph}", (NAME, "1.0.1")).fetchone()[0]
    finally:
        conn.close()
    assert body == canonical_json(before["entries"][1]).decode("utf-8")
    if isinstance(backend, SqliteFile):
        assert any(index.startswith("sqlite_autoindex_events") for index in sqlite_event_indexes(backend))

    again = open_registry()  # opening upgrades to head
    assert "body" not in columns(backend, "entries")
    if isinstance(backend, SqliteFile):  # seq is the rowid: no separate key index
        assert sqlite_event_indexes(backend) == ["ix_events_name_env_seq", "ix_events_name_version_seq", "ix_events_signer",
                                                  "ix_events_time"]
    after = snapshot(again)
    assert after == before
    assert again.verify_audit().ok
    assert again.rebuild_projection() == len(before["events"])
    assert again.store.dump_projection() == before["projection"]


def test_the_log_stays_append_only_after_0003(open_registry, backend):
    reg = written_store(open_registry)
    conn = backend.connect()
    try:
        for statement in ("UPDATE events SET actor = 'mallory' WHERE seq = 2", "DELETE FROM events WHERE seq = 2"):
            with pytest.raises(Exception, match="append-only"):
                conn.execute(statement)
    finally:
        conn.close()
    assert reg.verify_audit().ok


def test_an_entry_is_read_from_its_registered_event(open_registry, backend):
    reg = written_store(open_registry)
    event = [e for e in reg.events(types=("entry.registered",)) if e.version == "1.0.1"][0]
    fresh = open_registry()  # nothing cached: the read goes to the store
    assert fresh.get(NAME, "1.0.1").to_dict() == event.payload["entry"]
    assert json.loads(canonical_json(event.payload["entry"])) == fresh.get(NAME).to_dict()
    with pytest.raises(NotFound, match="1.0.9 is not registered"):
        fresh.get(NAME, "1.0.9")


def test_a_tampered_registered_event_is_caught_even_though_the_entry_reads_from_it(open_registry, backend):
    reg = written_store(open_registry)
    seq = [e.seq for e in reg.events(types=("entry.registered",)) if e.version == "1.0.0"][0]
    disable_append_only(backend)
    conn = backend.connect()
    try:
        ph = placeholder(backend)
        payload = conn.execute(f"SELECT payload FROM events WHERE seq = {ph}", (seq,)).fetchone()[0]
        conn.execute(f"UPDATE events SET payload = {ph} WHERE seq = {ph}",
                     (payload.replace('"max_tokens":300', '"max_tokens":9000'), seq))
    finally:
        conn.close()
    report = open_registry().verify_audit()
    assert not report.ok and report.first_bad_seq == seq


def test_0010_fills_the_bump_columns_listing_reads(open_registry, backend):
    before = downgraded(open_registry, "0007")
    assert "bump" not in columns(backend, "entries")
    again = open_registry()  # opening upgrades to head: 0010 fills them from each entry's event
    assert {"bump", "bump_reason"} <= set(columns(backend, "entries"))
    rows, total = again.version_rows(NAME)
    assert total == 2
    assert [(v, b, r) for v, _, _, b, r in rows] == [(e["version"], e["bump"], e["bump_reason"])
                                                      for e in before["entries"]]
    assert again.store.dump_projection() == before["projection"]  # what the projection itself writes
    assert again.rebuild_projection() == len(before["events"])
    assert again.store.dump_projection() == before["projection"]
