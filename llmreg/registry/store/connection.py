"""Store URLs and DBAPI connections for SQLite and PostgreSQL.

The store runs its statements on the DBAPI connection (sqlite3 / psycopg) in autocommit
mode and opens transactions itself (`BEGIN IMMEDIATE` on SQLite, `BEGIN` + a row lock on
PostgreSQL). The statements are the same text for both; only the placeholder differs.
SQLAlchemy Core would add 50-100 us per statement, which is the whole resolve budget and
a third of a registration's, and importing it costs ~0.25 s, so SQLite connections are
made with the stdlib and SQLAlchemy is loaded only for PostgreSQL and for migrations.
"""
from __future__ import annotations

import os
import re

from llmreg.registry.errors import BadInput
from llmreg.registry.frozen import Frozen

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DEFAULT_DIR = ".llmreg"
DEFAULT_DB = "registry.db"
BUSY_TIMEOUT_S = 30.0
WAL_AUTOCHECKPOINT_PAGES = 4096
# SQLite durability. FULL (the default): every commit is fsynced to the WAL before
# `register`/`promote` returns, so a power cut loses nothing acknowledged (what PostgreSQL
# and MLflow's SQLite default give). NORMAL: a commit survives a process crash but the
# last transactions before a power cut may be lost (never corrupting the file); it saves
# one fsync per commit. Set with $LLMREG_SQLITE_SYNCHRONOUS=FULL|NORMAL.
SYNCHRONOUS_ENV = "LLMREG_SQLITE_SYNCHRONOUS"
SYNCHRONOUS_MODES = ("FULL", "NORMAL", "EXTRA")


def sqlite_synchronous() -> str:
    """The synchronous mode new SQLite connections use (FULL unless the environment says otherwise)."""
    mode = (os.environ.get(SYNCHRONOUS_ENV) or "FULL").strip().upper()
    if mode not in SYNCHRONOUS_MODES:
        raise BadInput(f"{SYNCHRONOUS_ENV}: {mode!r} is not one of {', '.join(SYNCHRONOUS_MODES)}; "
                       "unset it for durable commits (FULL)", field=SYNCHRONOUS_ENV)
    return mode


class StoreURL(Frozen):
    """A parsed store location: dialect plus the SQLite path or the SQLAlchemy URL."""

    __slots__ = ("dialect", "url", "path")
    dialect: str  # "sqlite" | "postgresql"
    url: str  # as SQLAlchemy takes it
    path: str | None  # SQLite file

    def __init__(self, dialect: str, url: str, path: str | None = None):
        super().__init__(dialect, url, path)

    def redacted(self) -> str:
        return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", self.url)


def default_url() -> str:
    return os.environ.get("LLMREG_STORE") or f"sqlite:///{os.path.join(DEFAULT_DIR, DEFAULT_DB)}"


def parse_url(url: str | os.PathLike | None) -> StoreURL:
    """sqlite:///rel/path.db, sqlite:////abs/path.db, a bare file path, or postgresql://..."""
    if url is None:
        url = default_url()
    url = os.fspath(url)
    if not isinstance(url, str) or not url.strip():
        raise BadInput("store: empty store URL; pass sqlite:///path/registry.db or postgresql+psycopg://host/db",
                       field="store")
    if "://" not in url:
        return _sqlite(url)
    scheme, _, rest = url.partition("://")
    scheme = scheme.lower()
    if scheme in ("sqlite", "sqlite+pysqlite"):
        if not rest.startswith("/") or rest in ("/", "/:memory:") or ":memory:" in rest:
            raise BadInput(f"store: {url!r} has no database file; use sqlite:///relative/path.db or "
                           "sqlite:////absolute/path.db (an in-memory database cannot be shared between "
                           "connections)", field="store")
        path = rest[1:].split("?", 1)[0]
        if "%" in path:  # urllib (and ipaddress with it) only for a percent-encoded path
            from urllib.parse import unquote

            path = unquote(path)
        return _sqlite(path)
    if scheme in ("postgresql", "postgres", "postgresql+psycopg", "postgresql+psycopg3"):
        return StoreURL("postgresql", "postgresql+psycopg://" + rest)
    raise BadInput(f"store: unsupported URL scheme {scheme!r}; use sqlite:///path.db or "
                   "postgresql+psycopg://user@host:5432/db", field="store")


def _sqlite(path: str) -> StoreURL:
    if not path or path == ":memory:":
        raise BadInput("store: give a SQLite file path such as .llmreg/registry.db", field="store")
    if "\x00" in path:
        raise BadInput("store: the SQLite path contains NUL; fix the path", field="store")
    path = os.path.abspath(os.path.expanduser(path))
    return StoreURL("sqlite", f"sqlite:///{path}", path)


def connect_sqlite(path: str):
    """A sqlite3 connection in autocommit mode, WAL journal, synchronous=FULL (see sqlite_synchronous)."""
    import sqlite3

    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    if mode.lower() != "wal":
        # WAL: readers never block the writer and a killed writer leaves no torn page.
        conn.execute("PRAGMA journal_mode = WAL")
    # FULL in WAL mode: each commit is on disk when it returns (an audit log must survive
    # a power cut). NORMAL, if chosen, survives kill -9 but not a power cut.
    conn.execute(f"PRAGMA synchronous = {sqlite_synchronous()}")
    # The commit that crosses this many WAL pages copies them into the database and fsyncs
    # both files. SQLite's default (1,000 pages) made one registration in ~100 pay ~5 ms;
    # at 4,096 pages (a 16 MiB WAL) the same pages are written back once for more commits,
    # and the mean registration is ~6% faster (8,000 in a row, bench/README.md).
    conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES}")
    return conn


def sqlalchemy_engine(url: StoreURL):
    """An Engine for migrations (and PostgreSQL connections); imports SQLAlchemy on demand."""
    from sqlalchemy import create_engine, event
    from sqlalchemy.pool import NullPool

    engine = create_engine(url.url, poolclass=NullPool)
    if url.dialect == "sqlite":
        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record):  # pragma: no cover - exercised via migrations
            dbapi_conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    return engine


class PostgresConnector:
    """psycopg connections built from the SQLAlchemy URL (so URLs mean what users expect)."""

    def __init__(self, url: StoreURL):
        self.url = url
        self._args: tuple[Any, Any] | None = None

    def connect(self):
        import psycopg

        if self._args is None:
            from sqlalchemy.engine import make_url

            engine = sqlalchemy_engine(self.url)
            self._args = engine.dialect.create_connect_args(make_url(self.url.url))
            engine.dispose()
        cargs, cparams = self._args
        conn = psycopg.connect(*cargs, **cparams)
        conn.autocommit = True
        return conn


def placeholders(sql: str, dialect: str) -> str:
    """Statements are written with '?'; psycopg wants '%s'."""
    return sql.replace("?", "%s") if dialect == "postgresql" else sql
