"""PostgreSQL roles that cannot quietly change the rules (`llmreg db grant`).

The role that runs migrations owns the tables and triggers. The registry itself connects
as an *app* role that may read everything and append to the log, but owns nothing: only a
table's owner (or a superuser) can `ALTER TABLE events DISABLE TRIGGER`, drop a trigger or
the table, so the append-only triggers stay in force for it. A *reader* role (applications
that only resolve) may only SELECT.

    app role:    events, signing_keys SELECT, INSERT (never UPDATE, DELETE, TRUNCATE)
                 head SELECT, UPDATE (the single row every writer locks and moves)
                 llmreg_alembic_version SELECT (it sees the schema version, cannot migrate)
                 projection tables SELECT, INSERT, UPDATE, DELETE (rebuilt from the log)
    reader role: SELECT on every table but webhook_secrets (webhook URLs and HMAC secrets:
                 only the sender, which runs as the app role, reads them)

Run `grant_roles` as the owning role after every migration (a new table gets no
privileges until then); it is idempotent and first revokes whatever else those roles held.
Privileges do not bind a superuser, a member of the owning role, or a role with CREATEROLE
(it can join the owning role): all three are refused.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from llmreg.registry.errors import BadInput
from llmreg.registry.store.connection import PostgresConnector, parse_url
from llmreg.registry.store.migrate import VERSION_TABLE
from llmreg.registry.store.schema import metadata

APPEND_ONLY = ("events", "signing_keys")
# Operational logs the app role appends to and never rewrites (the gateway's per-call log).
CALL_LOGS = ("gateway_calls",)
HEAD = ("head",)
SENDER_ONLY = ("webhook_secrets",)  # the app role (the webhook sender) reads it; the reader role never
_ROLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _projection_tables() -> tuple[str, ...]:
    return tuple(sorted(name for name in metadata.tables if name not in APPEND_ONLY + HEAD + CALL_LOGS))


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def grant_statements(schema: str, app_role: str, reader_role: str) -> list[str]:
    """The GRANT/REVOKE statements for `schema` (roles must exist), in order; also for docs."""
    s, app, reader = _ident(schema), _ident(app_role), _ident(reader_role)
    tables = [*APPEND_ONLY, *HEAD, VERSION_TABLE, *CALL_LOGS, *_projection_tables()]
    out = [
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {s} FROM {app}, {reader}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {s} FROM {app}, {reader}",
        f"REVOKE ALL ON SCHEMA {s} FROM {app}, {reader}",
        f"GRANT USAGE ON SCHEMA {s} TO {app}, {reader}",
        *(f"GRANT SELECT, INSERT ON {s}.{_ident(t)} TO {app}" for t in APPEND_ONLY),
        *(f"GRANT SELECT, UPDATE ON {s}.{_ident(t)} TO {app}" for t in HEAD),
        f"GRANT SELECT ON {s}.{_ident(VERSION_TABLE)} TO {app}",
        *(f"GRANT SELECT, INSERT ON {s}.{_ident(t)} TO {app}" for t in CALL_LOGS),
        f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA {s} TO {app}",  # the call log's BIGSERIAL id
        *(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {s}.{_ident(t)} TO {app}" for t in _projection_tables()),
        *(f"GRANT SELECT ON {s}.{_ident(t)} TO {reader}" for t in tables if t not in SENDER_ONLY),
    ]
    return out


@dataclass(frozen=True)
class GrantReport:
    schema: str
    owner: str
    app_role: str
    reader_role: str
    created: tuple[str, ...]  # roles this call created (LOGIN, no password: set one, or use trust/cert auth)
    statements: tuple[str, ...]


def grant_roles(url: str, app_role: str, reader_role: str) -> GrantReport:
    """Create (if missing) and grant the app and reader roles on the store at `url`.

    Connect as the role that owns the tables (the one migrations ran as). BadInput, one
    line, when the URL is not PostgreSQL, a role name is unsafe, or a role could bypass the
    privileges (superuser, owner, member of the owner)."""
    store = parse_url(url)
    if store.dialect != "postgresql":
        raise BadInput("store: `db grant` is for PostgreSQL; a SQLite file is protected by file permissions "
                       "(chmod 600 the database)", field="store")
    for flag, role in (("app role", app_role), ("reader role", reader_role)):
        if not _ROLE.match(role or ""):
            raise BadInput(f"{flag} {role!r}: use lowercase letters, digits and _ (max 63), starting with a letter",
                           field="role")
    if app_role == reader_role:
        raise BadInput("reader role: must differ from the app role (the reader may not write)", field="role")
    conn = PostgresConnector(store).connect()
    try:
        with conn.transaction():
            schema, owner = _schema_and_owner(conn)
            created = []
            for role in (app_role, reader_role):
                if _role_exists(conn, role):
                    _refuse_privileged(conn, role, owner)
                else:
                    _create_role(conn, role)
                    created.append(role)
            statements = grant_statements(schema, app_role, reader_role)
            for statement in statements:
                conn.execute(statement)
    finally:
        conn.close()
    return GrantReport(schema, owner, app_role, reader_role, tuple(created), tuple(statements))


def _schema_and_owner(conn) -> tuple[str, str]:
    row = conn.execute(
        "SELECT n.nspname, pg_get_userbyid(c.relowner), current_user FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relname = 'events' AND c.relkind = 'r' AND n.nspname = ANY(current_schemas(false))"
    ).fetchone()
    if row is None:
        raise BadInput("store: no `events` table on this connection's search_path; run `llmreg db upgrade` "
                       "first, or set search_path in the URL (options=-csearch_path%3Dschema)", field="store")
    schema, owner, user = row
    is_super = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0]
    if owner != user and not is_super:
        raise BadInput(f"store: connect as the role that owns the tables ({owner}), not {user}; only the owner "
                       "can grant on them", field="store")
    return schema, owner


def _role_exists(conn, role: str) -> bool:
    return conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is not None


def _refuse_privileged(conn, role: str, owner: str) -> None:
    superuser, createrole, member = conn.execute(
        "SELECT rolsuper, rolcreaterole, pg_has_role(%s, %s, 'MEMBER') FROM pg_roles WHERE rolname = %s",
        (role, owner, role)).fetchone()
    if superuser:
        raise BadInput(f"role {role}: is a superuser, which no privilege binds; use a plain role "
                       f"(ALTER ROLE {role} NOSUPERUSER, or pick another name)", field="role")
    if createrole:  # CREATEROLE can grant itself membership in the owning role
        raise BadInput(f"role {role}: has CREATEROLE, so it could make itself a member of {owner}; "
                       f"ALTER ROLE {role} NOCREATEROLE, or pick another name", field="role")
    if member:
        raise BadInput(f"role {role}: is (a member of) {owner}, which owns the tables and can disable their "
                       f"triggers; use a role outside it (REVOKE {owner} FROM {role}, or pick another name)",
                       field="role")


def _create_role(conn, role: str) -> None:
    import psycopg

    try:
        with conn.transaction():
            conn.execute(f"CREATE ROLE {_ident(role)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION")
    except psycopg.errors.InsufficientPrivilege:
        raise BadInput(f"role {role}: does not exist and this role cannot create it; as an administrator run "
                       f"CREATE ROLE {role} LOGIN PASSWORD '...'; then grant again", field="role") from None
