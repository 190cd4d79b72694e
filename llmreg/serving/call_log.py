"""Per-call log: one row per gateway call in `gateway_calls`, in the registry's database.

Rows are queued on the request path (a lock-free put) and written in batches by one
background thread, so a request never waits for the database. Rows are never dropped: a
failed batch stays queued and is retried; at shutdown the queue is drained, and whatever
still cannot reach the database is appended to a JSONL spill file that the next start
replays first. The table is not part of the event log (call metrics are high-volume operational data, not
audit events) but it is part of the registry's schema: it is defined in
llmreg/registry/store/schema.py and created or upgraded by the same Alembic history
(revision 0005), at writer start through `ensure_table`. Columns are added nullable, so an
older gateway keeps writing to an upgraded table, and readers treat a column an old table
lacks as NULL.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from sqlalchemy import create_engine, event, insert, inspect

from llmreg.registry.store.connection import BUSY_TIMEOUT_S, StoreURL, parse_url
from llmreg.serving.config import CallLogConfig

log = logging.getLogger("llmreg.gateway")

# The table is part of the registry's schema and migration history (revision 0005).
from llmreg.registry.store.schema import gateway_calls  # noqa: E402

COLUMNS = tuple(c.name for c in gateway_calls.columns if c.name != "id")
REPLICA = f"{socket.gethostname()}:{os.getpid()}"


_SECOND: list[Any] = [-1, ""]  # (unix second, its formatted prefix): strftime once a second, not per call


def utc_now() -> str:
    """The registry's fixed-width UTC format (events.format_time), on the request path."""
    now = time.time()
    second = int(now)
    cached = _SECOND
    if cached[0] != second:
        cached[1], cached[0] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)), second
    return f"{cached[1]}.{int((now - second) * 1_000_000):06d}Z"


def make_engine(store_url: str | StoreURL | None):
    """An Engine on the registry's database (SQLite: busy timeout so registry writes and
    log batches wait for each other instead of failing)."""
    url = store_url if isinstance(store_url, StoreURL) else parse_url(store_url)
    if url.dialect == "sqlite":
        engine = create_engine(url.url, pool_size=2, max_overflow=4)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record):
            dbapi_conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            dbapi_conn.execute("PRAGMA journal_mode = WAL")
            dbapi_conn.execute("PRAGMA synchronous = NORMAL")
        return engine
    return create_engine(url.url, pool_size=2, max_overflow=4, pool_pre_ping=True)


def ensure_table(engine) -> None:
    """Bring the database to the registry's schema head, which includes `gateway_calls`
    (Alembic revision 0005 creates it or adds what an older table lacks, keeping its rows).
    The registry's migration lock serialises replicas that start at once."""
    from llmreg.registry.store.migrate import ensure_schema

    url = parse_url(engine.url.render_as_string(hide_password=False))
    raw = engine.raw_connection()
    try:
        ensure_schema(url, raw.driver_connection)
    finally:
        raw.close()


def existing_columns(engine) -> set[str]:
    """The columns gateway_calls has in this database (empty when there is no table)."""
    inspector = inspect(engine)
    if not inspector.has_table(gateway_calls.name):
        return set()
    return {c["name"] for c in inspector.get_columns(gateway_calls.name)}


def default_spill_path(store_url: str | None) -> str:
    url = parse_url(store_url)
    base = os.path.dirname(url.path) if url.path else ".llmreg"
    return os.path.join(base, "gateway_calls.spill.jsonl")


@dataclass
class _Flush:
    done: threading.Event


class CallLogWriter:
    """Batched, lossless writer of gateway_calls rows (one background thread).

    The request path appends the row to a deque (atomic under the GIL: no lock, no wake-up);
    the writer wakes every `flush_interval_s` and takes what is there. A queue whose getter
    waits would wake the writer thread once per request, and each wake-up takes the GIL
    from the event loop: that hand-off was the gateway's largest tail latency."""

    def __init__(self, store_url: str | None, config: CallLogConfig | None = None, *, engine=None):
        self.config = config or CallLogConfig()
        self.engine = engine or make_engine(store_url)
        self.spill_path = self.config.spill_path or default_spill_path(store_url)
        self._rows: deque = deque()
        self._markers: deque = deque()
        self._wake = threading.Event()  # flush markers and close only: never per row
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.written = 0
        self.failed_batches = 0
        marker = {"qmark": "?", "format": "%s", "pyformat": "%s"}.get(self.engine.dialect.paramstyle)
        self._insert_sql = None if marker is None else (
            f"INSERT INTO {gateway_calls.name} ({', '.join(COLUMNS)}) VALUES ({', '.join(marker for _ in COLUMNS)})")

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "CallLogWriter":
        ensure_table(self.engine)
        self._replay_spill()
        self._thread = threading.Thread(target=self._run, name="gateway-call-log", daemon=True)
        self._thread.start()
        return self

    def submit(self, row: dict[str, Any]) -> None:
        """Queue one row (request path: no I/O, no lock, no thread wake-up)."""
        self._rows.append(row)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every row submitted before this call is in the database."""
        if self._thread is None or not self._thread.is_alive():
            return not self._rows
        marker = _Flush(threading.Event())
        self._markers.append(marker)
        self._wake.set()
        return marker.done.wait(timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Drain and stop; rows the database refuses until `timeout` go to the spill file."""
        if self._thread is not None:
            self._stop.set()
            self._wake.set()
            self._thread.join(timeout)
            self._thread = None
        leftover = self._drain_nowait()
        if leftover and not self._write(leftover, attempts=3):
            self._spill(leftover)
        self.engine.dispose()

    # ------------------------------------------------------------------ worker
    def _run(self) -> None:
        pending: list[dict[str, Any]] = []
        interval = self.config.flush_interval_s
        while True:
            self._wake.wait(interval)
            self._wake.clear()
            markers = self._take_markers()  # before the rows: each marker's rows are taken with it
            pending.extend(self._take_rows(1 << 62))  # all of them: a marker's rows are in this batch
            while pending:
                batch, rest = pending[:self.config.batch_size], pending[self.config.batch_size:]
                if not self._write(batch, attempts=1):
                    time.sleep(min(1.0, interval * 4))  # database busy or down: keep rows, retry
                    break
                pending = rest
            if pending:
                self._markers.extendleft(reversed(markers))  # not written yet: the flush waits on
                if self._stop.is_set():
                    break
                continue
            for marker in markers:
                marker.done.set()
            if self._stop.is_set() and not self._rows:
                break
        # stopping with rows the database would not take: close() spills them
        self._rows.extendleft(reversed(pending))
        for marker in self._take_markers():
            marker.done.set()

    def _take_markers(self) -> list[_Flush]:
        markers = []
        while self._markers:
            markers.append(self._markers.popleft())
        return markers

    def _take_rows(self, limit: int) -> list[dict[str, Any]]:
        rows, take = [], self._rows.popleft
        try:
            while len(rows) < limit:
                rows.append(take())
        except IndexError:  # empty
            pass
        return rows

    def _drain_nowait(self) -> list[dict[str, Any]]:
        for marker in self._take_markers():
            marker.done.set()
        return self._take_rows(1 << 62)

    def _write(self, rows: list[dict[str, Any]], *, attempts: int) -> bool:
        for attempt in range(attempts):
            try:
                with self.engine.begin() as conn:
                    if self._insert_sql is not None:  # the driver's executemany: about half the CPU (GIL) of Core's
                        conn.exec_driver_sql(self._insert_sql, [tuple(map(r.get, COLUMNS)) for r in rows])
                    else:
                        conn.execute(insert(gateway_calls), [_complete(r) for r in rows])
                self.written += len(rows)
                return True
            except Exception as exc:  # noqa: BLE001 - any database error: keep the rows
                self.failed_batches += 1
                log.warning("gateway_calls: writing %d rows failed (%s); will retry", len(rows), exc)
                if attempt + 1 < attempts:
                    time.sleep(0.2 * (attempt + 1))
        return False

    # ------------------------------------------------------------------ spill file
    def _spill(self, rows: list[dict[str, Any]]) -> None:
        os.makedirs(os.path.dirname(os.path.abspath(self.spill_path)), exist_ok=True)
        with open(self.spill_path, "a", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, sort_keys=True) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        log.error("gateway_calls: database unavailable at shutdown; %d rows saved to %s (replayed on next start)",
                  len(rows), self.spill_path)

    def _replay_spill(self) -> None:
        if not os.path.exists(self.spill_path):
            return
        claimed = f"{self.spill_path}.{os.getpid()}.replaying"
        try:
            os.rename(self.spill_path, claimed)  # one replica claims the file
        except OSError:
            return
        with open(claimed, encoding="utf-8") as fh:
            rows = [json.loads(line) for line in fh if line.strip()]
        if rows and not self._write(rows, attempts=3):
            os.rename(claimed, self.spill_path)
            return
        os.remove(claimed)


def _complete(row: dict[str, Any]) -> dict[str, Any]:
    return {column: row.get(column) for column in COLUMNS}


def read_rows(engine, *, name: str | None = None, env: str | None = None) -> list[dict[str, Any]]:
    """All rows (optionally of one entry/env), oldest first: for tests, audits and exports."""
    from sqlalchemy import literal, select

    present = existing_columns(engine)  # an older table lacks the added columns: read them as NULL
    query = select(*(c if c.name in present else literal(None).label(c.name) for c in gateway_calls.columns))
    query = query.order_by(gateway_calls.c.id)
    if name is not None:
        query = query.where(gateway_calls.c.name == name)
    if env is not None:
        query = query.where(gateway_calls.c.env == env)
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]
