"""SQLStore: the event log, its projection and the queries the registry runs, on SQLite or PostgreSQL.

Writes go through `write(fn)`: it opens a transaction, locks the single `head` row
(`BEGIN IMMEDIATE` on SQLite, `SELECT ... FOR UPDATE` on PostgreSQL), hands `fn` a `Txn`
to read current state and append events, applies each event to the projection in the
same transaction, moves the head and commits. One writer at a time holds the head, so
sequence numbers are dense and the hash chain never forks; readers are never blocked.

`fn` may raise `CommitThenRaise(error)`: the events it appended (an `action.refused`, the
`gate.failed` results) are committed, then `error` is raised. Any other exception rolls
the whole transaction back: nothing is partially written.

Each thread gets its own DBAPI connection (re-created after fork).
"""
from __future__ import annotations

import json
import os
import sqlite3
import threading
from contextlib import contextmanager, nullcontext

from llmreg.registry import events as ev
from llmreg.registry.errors import Conflict, RegistryError
from llmreg.registry.events import clock_check, make_event, row_to_event, utc_now, verify_rows
from llmreg.registry.store.connection import PostgresConnector, StoreURL, connect_sqlite, parse_url, placeholders
from llmreg.registry.store.migrate import ensure_schema
from llmreg.registry.store.port import CommitThenRaise, Head, Pointer, Store, UnitOfWork
from llmreg.registry.store.projection import PROJECTION_TABLES, TABLE_ORDER, apply_event, fold_stages, statements
from llmreg.registry.store.sql_reads import READ_SQL, SQLReads, dialect_read_sql
from llmreg.registry.store.sql_webhooks import WEBHOOK_SQL, SQLWebhookStore, SQLWebhookWrites

TYPE_CHECKING = False  # typing and audit.py load only for type checkers and `verify_chain` (read verbs' start-up)
if TYPE_CHECKING:
    from typing import Any, Callable, Iterator, Mapping, Sequence, TypeVar

    from llmreg.registry.audit import AuditReport
    from llmreg.registry.events import Event

    T = TypeVar("T")
PAGE = 5000
EVENT_COLUMNS = "seq, time, actor, type, name, version, env, payload, evidence, prev_hash, hash, signer, signature"

_SQL = {
    "head": "SELECT seq, hash, time, config_seq FROM head WHERE id = 1",
    # PostgreSQL: the server's clock stamps the transaction, not the client's.
    "head_lock": "SELECT seq, hash, time, config_seq, to_char(clock_timestamp() AT TIME ZONE 'UTC', "
                 "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') FROM head WHERE id = 1 FOR UPDATE",
    "head_seq": "SELECT seq FROM head WHERE id = 1",
    "set_head": "UPDATE head SET seq = ?, hash = ?, time = ?, config_seq = ? WHERE id = 1",
    "insert_event": f"INSERT INTO events ({EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "events_page": f"SELECT {EVENT_COLUMNS} FROM events WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT {PAGE}",
    "stage_rows": "SELECT seq, time, type, version, payload FROM events WHERE name = ? AND env = ? "
                  "AND type IN (?, ?, ?) AND time <= ? ORDER BY seq",
    "stage_rows_all": "SELECT seq, time, type, version, payload FROM events WHERE name = ? AND env = ? "
                      "AND type IN (?, ?, ?) ORDER BY seq",
    "signed_as": "SELECT actor FROM events WHERE signer = ? ORDER BY seq LIMIT 1",
    "hash_at": "SELECT hash FROM events WHERE seq = ?",
    "key_known": "SELECT 1 FROM signing_keys WHERE fingerprint = ?",
    "insert_key": "INSERT INTO signing_keys (fingerprint, public_key, seq) VALUES (?, ?, ?)",
    "public_keys": "SELECT fingerprint, public_key FROM signing_keys",
    **READ_SQL,
    **WEBHOOK_SQL,
}


class SQLUnitOfWork(SQLWebhookWrites, SQLReads, UnitOfWork):
    """One write transaction holding the head lock; its reads run on the transaction's cursor."""

    def __init__(self, store: "SQLStore", cur, head: Head, server_time: str | None = None):
        self.store = store
        self.cur = cur
        self.head = head
        self.seq = head.seq
        self.hash = head.hash
        self.config_seq = head.config_seq
        # One timestamp per transaction, never earlier than the previous event: event
        # time order is seq order, which time travel relies on. A clock far behind the head
        # is refused rather than silently pinned (clock_check).
        now = server_time or utc_now()
        clock_check(now, head.time)
        self.time = now if now > head.time else head.time
        self.events: list[Event] = []
        self.key = None  # the actor's keys.SigningKey: every event appended is signed with it
        self.new_keys: list[str] = []

    def signed_as(self, fingerprint: str) -> str | None:
        """The actor of the first event this key signed, or None (identity.py)."""
        row = self._row("signed_as", (fingerprint,))
        return row[0] if row else None

    def stored_hash(self, seq: int) -> str | None:
        row = self._row("hash_at", (seq,))
        return row[0] if row else None

    def remember_key(self, public) -> None:
        """Keep `public` (keys.PublicKey) in signing_keys unless it is there (once per store and key)."""
        known = self.store._keys_known
        fp = public.fingerprint
        if fp in known:
            return
        if self._row("key_known", (fp,)) is None:
            self.cur.execute(self.store._q["insert_key"], (fp, public.openssh(), self.seq + 1))
        self.new_keys.append(fp)  # known to the store once this transaction commits
    def _rows(self, key: str, params: tuple = ()) -> list[tuple]:
        self.cur.execute(self.store._q[key], params)
        return self.cur.fetchall()

    def _row(self, key: str, params: tuple = ()) -> tuple | None:
        self.cur.execute(self.store._q[key], params)
        return self.cur.fetchone()

    @property
    def next_seq(self) -> int:
        return self.seq + 1

    def append(self, type: str, *, actor: str, name: str | None = None, version: str | None = None,
               env: str | None = None, payload: Mapping[str, Any] | None = None,
               evidence: Mapping[str, Any] | None = None) -> Event:
        event, payload_json, evidence_json = make_event(
            seq=self.seq + 1, time=self.time, actor=actor, type=type, name=name, version=version,
            env=env, payload=payload, evidence=evidence, prev_hash=self.hash, key=self.key)
        store = self.store
        self.cur.execute(store._q["insert_event"], (
            event.seq, event.time, actor, type, name, version, env, payload_json, evidence_json,
            event.prev_hash, event.hash, event.signer, event.signature))
        apply_event(self.cur, store._p, event.seq, event.time, actor, type, name, version, env, event.payload)
        self.seq, self.hash = event.seq, event.hash
        if type in ev.CONFIG_SEQ_TYPES:
            self.config_seq = event.seq
        self._queue_deliveries(event)  # webhook outbox rows, in this transaction (sql_webhooks.py)
        self.events.append(event)
        return event


Txn = SQLUnitOfWork  # the name the handlers' first version used


class SQLStore(SQLWebhookStore, SQLReads, Store):
    """The registry's SQL store. `url`: sqlite:///path.db, a file path, or postgresql+psycopg://..."""

    def __init__(self, url: str | os.PathLike | None = None):
        self.url: StoreURL = parse_url(url)
        self.dialect = self.url.dialect
        self._q = {key: placeholders(sql, self.dialect)
                   for key, sql in {**_SQL, **dialect_read_sql(self.dialect)}.items()}
        self._p = statements(self.dialect)
        self._pg = PostgresConnector(self.url) if self.dialect == "postgresql" else None
        self._local = threading.local()
        self._keys_known: set[str] = set()
        self._all: list[Any] = []
        self._lock = threading.Lock()
        try:
            conn = self.conn()
        except RegistryError:
            raise
        except Exception as exc:  # noqa: BLE001 - driver errors differ; one clear line
            from llmreg.registry.errors import BadInput

            raise BadInput(f"store: cannot open {self.url.redacted()}: {' '.join(str(exc).split())}",
                           field="store") from None
        ensure_schema(self.url, conn)

    # ------------------------------------------------------------------ connections

    def conn(self):
        local = self._local
        conn = getattr(local, "conn", None)
        if conn is None or local.pid != os.getpid() or (self._pg is not None and (conn.closed or conn.broken)):
            # New thread, forked child, or a PostgreSQL connection the server dropped.
            conn = connect_sqlite(self.url.path or "") if self._pg is None else self._pg.connect()
            local.conn, local.pid, local.cur = conn, os.getpid(), conn.cursor()
            with self._lock:
                self._all.append(conn)
        return conn

    def cursor(self):
        """This thread's long-lived cursor (the hot read path reuses it)."""
        local = self._local
        conn = getattr(local, "conn", None)
        if conn is None or local.pid != os.getpid() or (self._pg is not None and (conn.closed or conn.broken)):
            self.conn()
        return local.cur

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - closing a connection of a dead fork
                pass
        self._local = threading.local()

    def __repr__(self) -> str:
        return f"SQLStore({self.url.redacted()!r})"

    def _dropped(self) -> bool:
        """True when this thread's PostgreSQL connection was lost (server restart, idle kill)."""
        conn = getattr(self._local, "conn", None)
        return self._pg is not None and conn is not None and (conn.closed or conn.broken)

    def _query(self, sql: str, params: Sequence[Any], one: bool, shared_cursor: bool = False):
        for attempt in (1, 2):
            cur = self.cursor() if shared_cursor else self.conn().cursor()
            try:
                cur.execute(sql, tuple(params))
                return cur.fetchone() if one else cur.fetchall()
            except Exception:
                if attempt == 2 or not self._dropped():
                    raise
                # a read is safe to repeat on a fresh connection

    def _rows(self, key: str, params: Sequence[Any] = ()) -> list[tuple]:
        return self._query(self._q[key], params, one=False)

    def _row(self, key: str, params: Sequence[Any] = ()) -> tuple | None:
        return self._query(self._q[key], params, one=True)

    # ------------------------------------------------------------------ writes

    @contextmanager
    def unit_of_work(self) -> Iterator[SQLUnitOfWork]:
        """One write transaction (see store/port.py): commit at the end of the block; a
        CommitThenRaise commits what was appended and raises its error; else roll back."""
        local = self._local
        if getattr(local, "in_write", False):
            raise RuntimeError("nested registry write: use the unit of work you were given")
        cur = self.conn().cursor()
        local.in_write = True
        local.committed = None
        deferred: BaseException | None = None
        try:
            try:
                self._begin(cur)
            except Exception as exc:
                if not self._dropped() or isinstance(exc, Conflict):
                    raise
                cur = self.conn().cursor()  # nothing was written yet: begin again on a new connection
                self._begin(cur)
            try:
                row = cur.fetchone() if self.dialect == "postgresql" else None
                if row is None:
                    cur.execute(self._q["head"])
                    row = cur.fetchone()
                uow = SQLUnitOfWork(self, cur, Head(*row[:4]), row[4] if len(row) > 4 else None)
                with self._pipeline(cur) as pipe:
                    try:
                        yield uow
                    except CommitThenRaise as wrapped:
                        deferred = wrapped.error
                    if uow.events:
                        cur.execute(self._q["set_head"], (uow.seq, uow.hash, uow.time, uow.config_seq))
                    cur.execute("COMMIT")
                    if pipe is not None:
                        pipe.sync()  # the commit's outcome, and any queued statement's error, here
                local.committed = uow.seq
                self._keys_known.update(uow.new_keys)
            except BaseException:
                try:
                    cur.execute("ROLLBACK")
                except Exception:  # noqa: BLE001 - the connection may already be gone
                    pass
                raise
        finally:
            local.in_write = False
        if deferred is not None:
            raise deferred

    def write(self, fn: Callable[[SQLUnitOfWork], T]) -> T:
        """fn(uow) inside one unit of work."""
        with self.unit_of_work() as uow:
            return fn(uow)

    def committed_seq(self) -> int | None:
        """The head seq this thread's last `write` committed (None if it rolled back)."""
        return getattr(self._local, "committed", None)

    def _pipeline(self, cur):
        """PostgreSQL: psycopg pipeline mode for the rest of the transaction. Statements whose
        result nobody reads (the event, the projection rows, the head, COMMIT) go out without
        waiting for each answer: one round trip at the commit instead of one per statement;
        a read (fetch) still waits for its answer."""
        return cur.connection.pipeline() if self._pg is not None else nullcontext(None)

    def _begin(self, cur) -> None:
        try:
            if self.dialect == "sqlite":
                cur.execute("BEGIN IMMEDIATE")
            else:
                # one round trip: no parameters, so psycopg sends both as one simple query;
                # the cursor then moves to the SELECT's result
                cur.execute("BEGIN; " + self._q["head_lock"])
                cur.nextset()
        except Exception as exc:  # noqa: BLE001
            if is_lock_timeout(exc):
                raise Conflict(f"the store {self.url.redacted()} stayed locked by another writer for more "
                               "than 30 s; retry") from None
            raise

    # ------------------------------------------------------------------ head and events

    def head(self) -> Head:
        row = self._row("head")
        assert row is not None, "the head row is created by the first migration"
        return Head(*row)

    def head_seq(self) -> int:
        cur = self.cursor()
        try:
            cur.execute(self._q["head_seq"])
            return cur.fetchone()[0]
        except Exception:
            if not self._dropped():
                raise
            return self._query(self._q["head_seq"], (), one=True, shared_cursor=True)[0]

    def iter_event_rows(self, after: int = 0, until: int | None = None) -> Iterator[tuple]:
        """Stored rows with after < seq <= until, in seq order, paged (never the whole log in memory)."""
        cur = self.conn().cursor()
        until = 2**62 if until is None else until
        while True:
            try:
                cur.execute(self._q["events_page"], (after, until))
                rows = cur.fetchall()
            except sqlite3.OperationalError:
                # sqlite3 raises this type (no error code) for text that is not UTF-8; the
                # tolerant re-read raises again for any other cause.
                rows = self._undecodable_page(after, until)
            if not rows:
                return
            yield from rows
            after = rows[-1][0]
            if len(rows) < PAGE:
                return

    def _undecodable_page(self, after: int, until: int) -> list[tuple]:
        """A page holding bytes that are not UTF-8 (someone edited the file): read it with
        undecodable bytes kept as surrogates so verification can name the bad event."""
        conn = connect_sqlite(self.url.path or "")
        try:
            conn.text_factory = lambda raw: raw.decode("utf-8", "surrogateescape")
            return conn.execute(self._q["events_page"], (after, until)).fetchall()
        finally:
            conn.close()

    def events(self, *, name: str | None = None, version: str | None = None, env: str | None = None,
               types: Sequence[str] | None = None, after_seq: int | None = None,
               until_time: str | None = None, since_time: str | None = None, limit: int | None = None,
               newest_first: bool = False) -> list[Event]:
        where: list[str] = []
        params: list[Any] = []
        for column, value in (("name", name), ("version", version), ("env", env)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if types:
            where.append("type IN (" + ", ".join("?" for _ in types) + ")")
            params.extend(types)
        if after_seq is not None:
            where.append("seq > ?")
            params.append(after_seq)
        if until_time is not None:
            where.append("time <= ?")
            params.append(until_time)
        if since_time is not None:
            where.append("time >= ?")
            params.append(since_time)
        sql = f"SELECT {EVENT_COLUMNS} FROM events"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY seq DESC" if newest_first else " ORDER BY seq"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        cur = self.conn().cursor()
        cur.execute(placeholders(sql, self.dialect), tuple(params))
        return [row_to_event(row) for row in cur.fetchall()]

    def verify_chain(self) -> AuditReport:
        head = self.head()
        ok, bad_seq, reason, count, last_hash = verify_rows(self.iter_event_rows(until=head.seq))
        if ok and count != head.seq:
            ok, bad_seq = False, count + 1
            reason = (f"the head says {head.seq} events but the log ends at event {count}: "
                      "events were removed from the end")
        elif ok and last_hash != head.hash:
            ok, bad_seq, reason = False, head.seq, "the head hash does not match the last event's hash"
        from llmreg.registry.audit import AuditReport

        return AuditReport(ok, count, head.seq, head.hash, bad_seq, reason)

    def hash_at(self, seq: int) -> str | None:
        """The stored hash of event `seq`, or None (checkpoint checks)."""
        row = self._row("hash_at", (seq,))
        return row[0] if row else None

    def public_keys(self) -> dict[str, str]:
        """{fingerprint: 'ssh-ed25519 AAAA...'} of every key that signed an event."""
        return dict(self._rows("public_keys"))

    # ------------------------------------------------------------------ projection reads

    def pointer(self, name: str, env: str, stage: str) -> tuple | None:
        """(version, weight, seq, time) or None: one primary-key lookup (the resolve hot path)."""
        cur = self.cursor()
        try:
            cur.execute(self._q["pointer"], (name, env, stage))
            return cur.fetchone()
        except Exception:
            if not self._dropped():
                raise
            return self._query(self._q["pointer"], (name, env, stage), one=True, shared_cursor=True)

    def entry_data(self, name: str, version: str) -> dict[str, Any] | None:
        """The registered entry as its entry.registered event recorded it (the log is the
        only copy), or None."""
        row = self._query(self._q["entry"], (name, version), one=True, shared_cursor=True)
        return json.loads(row[0])["entry"] if row else None

    def stage_rows(self, name: str, env: str, until_time: str | None = None) -> list[tuple]:
        params: tuple = (name, env, *ev.STAGE_TYPES)
        if until_time is None:
            rows = self._rows("stage_rows_all", params)
        else:
            rows = self._rows("stage_rows", params + (until_time,))
        return [(seq, time, type_, version, json.loads(payload)) for seq, time, type_, version, payload in rows]

    def stages_at(self, name: str, env: str, until_time: str | None = None) -> dict[str, tuple]:
        return fold_stages(self.stage_rows(name, env, until_time))

    # ------------------------------------------------------------------ rebuild and dumps

    def rebuild_projection(self) -> int:
        """Drop every projection row and replay the whole log into it; returns events replayed."""
        def rebuild(txn: Txn) -> int:
            cur = txn.cur
            self._routes_cache = None
            for table in PROJECTION_TABLES:
                cur.execute(f"DELETE FROM {table}")
            count = 0
            config_seq = 0
            for row in self.iter_event_rows():
                seq, time, actor, type_, name, version, env, payload = row[:8]
                apply_event(cur, self._p, seq, time, actor, type_, name, version, env, json.loads(payload))
                if type_ in ev.CONFIG_SEQ_TYPES:
                    config_seq = seq
                count += 1
            if config_seq != txn.head.config_seq:
                cur.execute(self._q["set_head"], (txn.head.seq, txn.head.hash, txn.head.time, config_seq))
            return count
        return self.write(rebuild)

    def dump_projection(self, cur=None) -> dict[str, list[tuple]]:
        cur = cur or self.conn().cursor()
        out = {}
        for table in PROJECTION_TABLES:
            cur.execute(f"SELECT * FROM {table} ORDER BY {TABLE_ORDER[table]}")
            out[table] = [tuple(row) for row in cur.fetchall()]
        return out

    def projection_differs(self) -> str | None:
        """Fold the log afresh inside a transaction that is rolled back, and compare it with
        the stored projection and the head's config seq: None, or the first difference."""
        cur = self.conn().cursor()
        self._begin(cur)
        try:
            head = self._row_on(cur, "head")
            stored = self.dump_projection(cur)
            for table in PROJECTION_TABLES:
                cur.execute(f"DELETE FROM {table}")
            config_seq = 0
            for row in self.iter_event_rows(until=head[0]):
                seq, time, actor, type_, name, version, env, payload = row[:8]
                apply_event(cur, self._p, seq, time, actor, type_, name, version, env, json.loads(payload))
                if type_ in ev.CONFIG_SEQ_TYPES:
                    config_seq = seq
            folded = self.dump_projection(cur)
        finally:
            cur.execute("ROLLBACK")
        if config_seq != head[3]:
            return f"head.config_seq is {head[3]}, the log's last config event is {config_seq}"
        from llmreg.registry.audit_check import first_difference

        return first_difference(stored, folded)

    def _row_on(self, cur, key: str) -> tuple:
        cur.execute(self._q[key])
        return cur.fetchone()


def is_lock_timeout(exc: BaseException) -> bool:
    """The writer lock could not be taken in time: SQLite BUSY/LOCKED, PostgreSQL lock_not_available."""
    if isinstance(exc, sqlite3.OperationalError):
        return getattr(exc, "sqlite_errorcode", None) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    try:
        from psycopg import errors as pg_errors
    except ImportError:  # pragma: no cover - psycopg is installed wherever PostgreSQL is used
        return False
    return isinstance(exc, (pg_errors.LockNotAvailable, pg_errors.QueryCanceled))


__all__ = ["SQLStore", "SQLUnitOfWork", "Txn", "Head", "Pointer", "CommitThenRaise", "row_to_event"]
