"""PostgreSQL roles (`grant_roles`): the app role appends and reads but cannot rewrite the log
or switch off its triggers; the reader role only reads. Real server, throwaway schema and roles."""
from __future__ import annotations

import uuid

import pytest

from contract.backends import make_backend
from llmreg.registry.errors import BadInput
from llmreg.registry.events import make_event
from llmreg.registry.store.connection import parse_url
from llmreg.registry.store.grants import grant_roles, grant_statements
from llmreg.registry.store.migrate import upgrade

pytestmark = pytest.mark.postgres


@pytest.fixture
def store(tmp_path):
    backend = make_backend("postgresql", tmp_path)
    suffix = uuid.uuid4().hex[:8]
    roles = (f"llmreg_app_{suffix}", f"llmreg_ro_{suffix}")
    try:
        upgrade(parse_url(backend.url))
        yield backend, roles
    finally:
        backend.drop()
        conn = backend.connect()
        try:
            for role in roles:
                if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
                    conn.execute(f'DROP OWNED BY "{role}"')
                    conn.execute(f'DROP ROLE "{role}"')
        finally:
            conn.close()


def _as(backend, role):
    import psycopg

    params = dict(backend.params, user=role)
    params.pop("password", None)
    conn = psycopg.connect(autocommit=True, **params)
    conn.execute(f'SET search_path TO "{backend.name}"')
    return conn


def _insert_event(conn, seq=1):
    event, payload, evidence = make_event(seq=seq, time="2026-01-01T00:00:00.000000Z", actor="alice",
                                          type="config.gates", payload={"eval_threshold": 0.9})
    conn.execute(
        "INSERT INTO events (seq, time, actor, type, name, version, env, payload, evidence, prev_hash, hash) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (event.seq, event.time, event.actor, event.type, event.name, event.version, event.env, payload,
         evidence, event.prev_hash, event.hash))


def _refused(conn, sql):
    import psycopg

    with pytest.raises(psycopg.Error) as info:
        conn.execute(sql)
    return str(info.value)


def test_app_role_appends_but_cannot_rewrite_or_disable_triggers(store):
    backend, (app, reader) = store
    report = grant_roles(backend.url, app, reader)
    assert set(report.created) == {app, reader} and report.schema == backend.name
    conn = _as(backend, app)
    try:
        _insert_event(conn)
        conn.execute("UPDATE head SET seq = 1 WHERE id = 1")
        conn.execute("INSERT INTO config (key, seq, value) VALUES ('gates', 1, '{}')")
        conn.execute("UPDATE config SET seq = 1")
        conn.execute("DELETE FROM stage_pointers")
        # the gateway's call log: appended (its BIGSERIAL id needs the sequence), never rewritten
        conn.execute("INSERT INTO gateway_calls (request_id, time, endpoint, status, latency_ms) "
                     "VALUES ('r1', '2026-01-01T00:00:00.000000Z', 'chat', 200, 1.5)")
        assert "permission denied" in _refused(conn, "DELETE FROM gateway_calls")
        assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 1
        assert "permission denied" in _refused(conn, "UPDATE events SET actor = 'mallory'")
        assert "permission denied" in _refused(conn, "DELETE FROM events")
        assert "permission denied" in _refused(conn, "TRUNCATE events")
        assert "must be owner" in _refused(conn, "ALTER TABLE events DISABLE TRIGGER ALL")
        assert "must be owner" in _refused(conn, "ALTER TABLE events DISABLE TRIGGER USER")
        assert "must be owner" in _refused(conn, "DROP TRIGGER events_append_only ON events")
        assert "must be owner" in _refused(conn, "DROP TABLE events")
        _refused(conn, "SET session_replication_role = replica")  # would skip triggers: superuser only
        _refused(conn, "DELETE FROM head")
        _refused(conn, "UPDATE llmreg_alembic_version SET version_num = '0000'")
        _refused(conn, f'CREATE TABLE "{backend.name}".shadow (x int)')
    finally:
        conn.close()
    owner = backend.connect()
    try:  # nothing the app role tried changed the log
        assert owner.execute("SELECT actor FROM events").fetchall() == [("alice",)]
    finally:
        owner.close()


def test_reader_role_only_reads(store):
    backend, (app, reader) = store
    grant_roles(backend.url, app, reader)
    conn = _as(backend, reader)
    try:
        assert conn.execute("SELECT seq FROM head").fetchone() == (0,)
        assert "permission denied" in _refused(conn, "INSERT INTO events (seq, time, actor, type, payload, "
                                                     "evidence, prev_hash, hash) VALUES (1,'t','a','x','{}','{}','p','h')")
        assert "permission denied" in _refused(conn, "UPDATE stage_pointers SET weight = 1")
        assert "permission denied" in _refused(conn, "UPDATE head SET seq = 5")
        # webhook URLs and HMAC secrets: only the sender (the app role) reads them
        assert conn.execute("SELECT count(*) FROM webhook_subscriptions").fetchone() == (0,)
        assert "permission denied" in _refused(conn, "SELECT secret FROM webhook_secrets")
    finally:
        conn.close()
    app_conn = _as(backend, app)
    try:
        app_conn.execute("INSERT INTO webhook_secrets (subscription_id, url, secret) VALUES ('ops', 'u', 's')")
        assert app_conn.execute("SELECT secret FROM webhook_secrets").fetchone() == ("s",)
        app_conn.execute("UPDATE webhook_outbox SET attempts = attempts + 1")  # the sender marks deliveries
    finally:
        app_conn.close()


def test_grant_is_idempotent_and_narrows_extra_privileges(store):
    backend, (app, reader) = store
    grant_roles(backend.url, app, reader)
    owner = backend.connect()
    try:
        owner.execute(f'GRANT UPDATE, DELETE ON events TO "{app}"')  # someone widened it by hand
    finally:
        owner.close()
    report = grant_roles(backend.url, app, reader)
    assert report.created == ()
    conn = _as(backend, app)
    try:
        assert "permission denied" in _refused(conn, "DELETE FROM events")
    finally:
        conn.close()


@pytest.mark.parametrize("attributes, problem", [("SUPERUSER", "superuser"), ("CREATEROLE", "CREATEROLE")])
def test_refuses_a_role_that_could_bypass_privileges(store, attributes, problem):
    backend, (app, reader) = store
    owner = backend.connect()
    try:
        owner.execute(f'CREATE ROLE "{app}" {attributes}')
    finally:
        owner.close()
    with pytest.raises(BadInput, match=problem):
        grant_roles(backend.url, app, reader)


def test_refuses_a_member_of_the_owning_role(store):
    backend, (app, reader) = store
    owner = backend.connect()
    try:
        owner.execute(f'CREATE ROLE "{app}" LOGIN')
        owner.execute(f'CREATE ROLE "{reader}" LOGIN')
        owner.execute(f'GRANT "{reader}" TO "{app}"')
    finally:
        owner.close()
    # a member of the owner is refused: make `reader` the owner of the schema's tables
    owner = backend.connect()
    try:
        for (table,) in owner.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()").fetchall():
            owner.execute(f'ALTER TABLE "{table}" OWNER TO "{reader}"')
    finally:
        owner.close()
    with pytest.raises(BadInput, match="is \\(a member of\\)"):
        grant_roles(backend.url, app, "llmreg_ro_other")


def test_refuses_bad_input():
    with pytest.raises(BadInput, match="PostgreSQL"):
        grant_roles("sqlite:////tmp/x.db", "app", "reader")
    with pytest.raises(BadInput, match="app role"):
        grant_roles("postgresql+psycopg://u@h/db", "app; DROP", "reader")
    with pytest.raises(BadInput, match="differ"):
        grant_roles("postgresql+psycopg://u@h/db", "same", "same")


def test_statements_never_grant_writes_on_events():
    statements = grant_statements("s", "app", "ro")
    on_events = [s for s in statements if '"events"' in s and s.startswith("GRANT")]
    assert on_events and all("UPDATE" not in s and "DELETE" not in s and "TRUNCATE" not in s for s in on_events)
