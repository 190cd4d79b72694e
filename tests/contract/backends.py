"""Store backends for tests: a fresh SQLite file, a fresh schema on the local PostgreSQL, or
the in-memory store (llmreg.registry.store.memory) that unit tests of the core use.

PostgreSQL: $LLMREG_TEST_POSTGRES (a SQLAlchemy URL) or 127.0.0.1:5432 database `test`
as user root, then postgres (trust auth). Each test gets its own schema, dropped after.
When no server answers, PostgreSQL tests skip and say why; nothing else skips them.
"""
from __future__ import annotations

import os
import uuid
from functools import lru_cache
from urllib.parse import quote

DEFAULT_PG = ("127.0.0.1", 5432, "test")


@lru_cache(maxsize=1)
def postgres_server() -> tuple[dict | None, str]:
    """(connect kwargs, "") when a server answers, else (None, why)."""
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - psycopg is a dev dependency
        return None, f"psycopg is not installed ({exc}); pip install 'psycopg[binary]'"
    explicit = os.environ.get("LLMREG_TEST_POSTGRES")
    candidates = []
    if explicit:
        from sqlalchemy.engine import make_url

        url = make_url(explicit)
        candidates.append({"host": url.host or "127.0.0.1", "port": url.port or 5432,
                           "dbname": url.database or "test", "user": url.username,
                           **({"password": url.password} if url.password else {})})
    else:
        host, port, db = DEFAULT_PG
        candidates = [{"host": host, "port": port, "dbname": db, "user": user} for user in ("root", "postgres")]
    errors = []
    for params in candidates:
        try:
            with psycopg.connect(connect_timeout=3, **params) as conn:
                conn.execute("SELECT 1")
            return params, ""
        except Exception as exc:  # noqa: BLE001 - report why and skip
            errors.append(f"{params['user']}@{params['host']}:{params['port']}/{params['dbname']}: "
                          f"{' '.join(str(exc).split())[:160]}")
    return None, "no PostgreSQL server reachable (" + "; ".join(errors) + ")"


class PostgresSchema:
    """A throwaway schema; `url` points the registry at it through search_path."""

    def __init__(self, params: dict):
        import psycopg

        self.params = params
        self.name = f"llmreg_test_{os.getpid()}_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(autocommit=True, **params) as conn:
            conn.execute(f'CREATE SCHEMA "{self.name}"')
        auth = quote(params["user"]) + (":" + quote(params["password"]) if params.get("password") else "")
        self.url = (f"postgresql+psycopg://{auth}@{params['host']}:{params['port']}/{params['dbname']}"
                    f"?options=-csearch_path%3D{self.name}")

    def connect(self):
        import psycopg

        conn = psycopg.connect(autocommit=True, **self.params)
        conn.execute(f'SET search_path TO "{self.name}"')
        return conn

    def drop(self) -> None:
        import psycopg

        with psycopg.connect(autocommit=True, **self.params) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{self.name}" CASCADE')


class SqliteFile:
    def __init__(self, directory):
        self.path = os.path.join(str(directory), "registry.db")
        self.url = f"sqlite:///{self.path}"

    def connect(self):
        import sqlite3

        return sqlite3.connect(self.path, isolation_level=None)

    def drop(self) -> None:
        pass


class MemoryBackend:
    """One MemoryStore shared by every Registry a test opens (as a database would be).
    Tests that reach past the port (SQL, another process) skip here."""

    def __init__(self):
        from llmreg.registry.store.memory import MemoryStore

        self.store = MemoryStore()

    @property
    def url(self):
        import pytest

        pytest.skip("the memory store has no URL: another process cannot open it")

    def connect(self):
        import pytest

        pytest.skip("the memory store has no SQL connection")

    def drop(self) -> None:
        pass


def sql_only(reg) -> None:
    """Skip a test that needs the SQL store behind `reg` (its URL, its schema)."""
    import pytest

    from llmreg.registry.store.memory import MemoryStore

    if isinstance(reg.store, MemoryStore):
        pytest.skip("needs a SQL store")


def make_backend(kind: str, tmp_path):
    import pytest

    if kind == "sqlite":
        return SqliteFile(tmp_path)
    if kind == "memory":
        return MemoryBackend()
    params, why = postgres_server()
    if params is None:
        pytest.skip(why)
    return PostgresSchema(params)


def disable_append_only(backend) -> None:
    """Tamper tests act as an attacker with DDL rights: take the triggers away first."""
    conn = backend.connect()
    try:
        if isinstance(backend, SqliteFile):
            conn.execute("DROP TRIGGER IF EXISTS events_append_only_update")
            conn.execute("DROP TRIGGER IF EXISTS events_append_only_delete")
        else:
            conn.execute("ALTER TABLE events DISABLE TRIGGER USER")
    finally:
        conn.close()


def placeholder(backend) -> str:
    return "?" if isinstance(backend, SqliteFile) else "%s"
