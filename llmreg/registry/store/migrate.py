"""Bring a store's schema to the current Alembic head when it opens.

The fast path reads the version table with the already-open DBAPI connection and returns;
Alembic (and SQLAlchemy) are imported only when an upgrade is due. Concurrent first opens
serialise on a lock (a lock file beside the SQLite database, an advisory lock on
PostgreSQL) so two processes never run the same migration at once.
"""
from __future__ import annotations

import os
from contextlib import contextmanager

from llmreg.registry.store.connection import StoreURL, sqlalchemy_engine

HEAD_REVISION = "0008"
VERSION_TABLE = "llmreg_alembic_version"
_PG_LOCK_KEY = 0x6C6C6D726567  # "llmreg"
MIGRATIONS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "migrations")


def current_revision(conn) -> str | None:
    """The schema revision recorded in the database, or None for an empty database."""
    import sqlite3

    missing: tuple[type[BaseException], ...] = (sqlite3.OperationalError,)  # "no such table"
    if not isinstance(conn, sqlite3.Connection):
        from psycopg import errors as pg_errors

        missing = (pg_errors.UndefinedTable,)
    try:
        cur = conn.cursor()
        cur.execute(f"SELECT version_num FROM {VERSION_TABLE}")
        row = cur.fetchone()
    except missing:  # an empty database: nothing migrated yet
        return None
    return row[0] if row else None


def ensure_schema(url: StoreURL, conn) -> None:
    found = current_revision(conn)
    if found == HEAD_REVISION:
        return
    if found is not None and not _known(found):
        raise _needs_newer_code(url, found)
    with _migration_lock(url):
        upgrade(url)


def _known(revision: str) -> bool:
    """A revision this code has a migration for (files are named <revision>_<what>.py)."""
    versions = os.path.join(MIGRATIONS_DIR, "versions")
    return any(name.startswith(f"{revision}_") for name in os.listdir(versions))


def _needs_newer_code(url: StoreURL, found: str):
    """One line: the store was migrated by a later llm-registry than this one."""
    from importlib.metadata import PackageNotFoundError, version

    from llmreg.registry.errors import BadInput

    try:
        running = version("llm-registry")
    except PackageNotFoundError:  # a checkout that was never installed
        running = "this checkout"
    newer = "newer than" if found.isdigit() and found > HEAD_REVISION else "unknown to"
    return BadInput(f"store: {url.redacted()} has schema revision {found[:40]!r}, {newer} llm-registry {running} "
                    f"(it reads revisions up to {HEAD_REVISION}); it needs a later llm-registry: upgrade "
                    "(pip install -U llm-registry) or use the release that last migrated this store", field="store")


def alembic_config():
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", MIGRATIONS_DIR)
    return cfg


def upgrade(url: StoreURL, revision: str = "head") -> None:
    """Bring the schema to `revision`; the caller holds the migration lock (ensure_schema)."""
    _run_alembic(url, "upgrade", revision)


def downgrade(url: StoreURL, revision: str) -> None:
    """Take the schema back to `revision` (for an older release to read the store again)."""
    with _migration_lock(url):
        _run_alembic(url, "downgrade", revision)


def _run_alembic(url: StoreURL, action: str, revision: str) -> None:
    from alembic import command

    engine = sqlalchemy_engine(url)
    try:
        with engine.connect() as conn:
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            getattr(command, action)(cfg, revision)
            conn.commit()
    finally:
        engine.dispose()


@contextmanager
def _migration_lock(url: StoreURL):
    if url.dialect == "sqlite":
        import fcntl

        path = url.path or ""  # always set for SQLite
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(path + ".migrate-lock", "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return
    from llmreg.registry.store.connection import PostgresConnector

    conn = PostgresConnector(url).connect()
    try:
        conn.execute("SELECT pg_advisory_lock(%s)", (_PG_LOCK_KEY,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_PG_LOCK_KEY,))
    finally:
        conn.close()
