"""What SQLAlchemy Core would cost the store, measured beside the raw DB-API it replaced.

    .venv/bin/python -m bench.sqlalchemy_cost [--rounds 5] [--reads 20000] [--writes 2000] [--synchronous NORMAL]

Three figures, each SQLAlchemy Core next to raw sqlite3, in the same run on the same SQLite
file layout (the registry's own shapes, not toy statements):

1. import: a fresh interpreter importing `sqlalchemy` (+ `sqlalchemy.sql`, what a Core store
   needs) vs `sqlite3`, minus a bare interpreter's start-up; best of --rounds child processes.
2. resolve-shaped SELECT: the primary-key lookup `resolve` runs on `stage_pointers` (one row
   by name, env, stage), per call, p50/p99 over --reads calls: a compiled `select()` on a
   `Connection` vs a cursor's `execute` with the registry's SQL text.
3. registration-shaped transaction: BEGIN IMMEDIATE, one event row (about 2 KB of canonical
   JSON), one `entries` row, the head row updated, COMMIT; per second over --writes
   transactions, with the same durability on both sides (`synchronous=FULL`, WAL: the store's
   default, so the disk's fsync sets much of the rate; `--synchronous NORMAL` shows the CPU cost).

Rounds alternate the two sides so both see the same machine load. Nothing here is a test.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCHEMA = """
CREATE TABLE events (seq INTEGER PRIMARY KEY, time TEXT NOT NULL, actor TEXT NOT NULL, type TEXT NOT NULL,
                     name TEXT, version TEXT, env TEXT, payload TEXT NOT NULL, evidence TEXT NOT NULL,
                     prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
CREATE TABLE entries (name TEXT NOT NULL, version TEXT NOT NULL, vmajor INTEGER, vminor INTEGER, vpatch INTEGER,
                      seq INTEGER NOT NULL, created_at TEXT, author TEXT, digest TEXT, PRIMARY KEY (name, version));
CREATE TABLE stage_pointers (name TEXT NOT NULL, env TEXT NOT NULL, stage TEXT NOT NULL, version TEXT NOT NULL,
                             weight REAL, seq INTEGER NOT NULL, time TEXT NOT NULL, PRIMARY KEY (name, env, stage));
CREATE TABLE head (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, hash TEXT NOT NULL);
INSERT INTO head VALUES (1, 0, '');
"""
POINTER_SQL = "SELECT version, weight, seq, time FROM stage_pointers WHERE name = ? AND env = ? AND stage = ?"
PAYLOAD = json.dumps({"entry": {"name": "support-triage", "params": {"max_tokens": 300},
                                "card": {"intended_use": "x" * 900}, "lineage": {"git_commit": "c" * 40},
                                "artifacts": [{"name": "adapter", "sha256": "a" * 64, "size": 1}] * 8}},
                     sort_keys=True, separators=(",", ":"))


def _import_time(module: str, rounds: int) -> float:
    """Best wall time of a fresh interpreter importing `module`, minus a bare interpreter's."""
    def best(code: str) -> float:
        out = float("inf")
        for _ in range(rounds):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True)
            out = min(out, time.perf_counter() - start)
        return out

    return best(f"import {module}") - best("pass")


def _setup(path: Path) -> None:
    import sqlite3

    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA)
    conn.executemany("INSERT INTO stage_pointers VALUES (?, ?, ?, ?, ?, ?, ?)",
                     [(f"name-{i}", "default", stage, "1.0.0", None, i, "2026-06-10T14:02:00.000000Z")
                      for i in range(1000) for stage in ("staging", "production")])
    conn.commit()
    conn.close()


def _raw_conn(path: Path, synchronous: str):
    import sqlite3

    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    return conn


def _sa_engine(path: Path, synchronous: str):
    from sqlalchemy import create_engine, event

    engine = create_engine(f"sqlite:///{path}")

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # SQLAlchemy's documented recipe: we issue BEGIN ourselves
        dbapi_conn.execute("PRAGMA journal_mode=WAL")
        dbapi_conn.execute(f"PRAGMA synchronous={synchronous}")

    @event.listens_for(engine, "begin")
    def _begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _tables():
    from sqlalchemy import Column, Float, Integer, MetaData, Table, Text

    meta = MetaData()
    pointers = Table("stage_pointers", meta, Column("name", Text, primary_key=True),
                     Column("env", Text, primary_key=True), Column("stage", Text, primary_key=True),
                     Column("version", Text), Column("weight", Float), Column("seq", Integer), Column("time", Text))
    events = Table("events", meta, *(Column(c, Integer if c == "seq" else Text) for c in
                                     ("seq", "time", "actor", "type", "name", "version", "env", "payload",
                                      "evidence", "prev_hash", "hash")))
    entries = Table("entries", meta, *(Column(c, Integer if c in ("vmajor", "vminor", "vpatch", "seq") else Text)
                                       for c in ("name", "version", "vmajor", "vminor", "vpatch", "seq",
                                                 "created_at", "author", "digest")))
    head = Table("head", meta, Column("id", Integer, primary_key=True), Column("seq", Integer), Column("hash", Text))
    return pointers, events, entries, head


def _percentiles(samples: list[int]) -> tuple[float, float]:
    samples = sorted(samples)
    pick = lambda q: samples[min(len(samples) - 1, max(0, int(q * len(samples) + 0.5) - 1))] / 1000  # noqa: E731
    return pick(0.50), pick(0.99)


def _reads_raw(conn, n: int) -> list[int]:
    out = []
    for i in range(n):
        key = (f"name-{i % 1000}", "default", "production")
        start = time.perf_counter_ns()
        row = conn.execute(POINTER_SQL, key).fetchone()
        out.append(time.perf_counter_ns() - start)
        assert row[0] == "1.0.0"
    return out


def _reads_sa(conn, pointers, n: int) -> list[int]:
    from sqlalchemy import bindparam, select

    stmt = select(pointers.c.version, pointers.c.weight, pointers.c.seq, pointers.c.time).where(
        pointers.c.name == bindparam("n"), pointers.c.env == bindparam("e"), pointers.c.stage == bindparam("s"))
    out = []
    for i in range(n):
        params = {"n": f"name-{i % 1000}", "e": "default", "s": "production"}
        start = time.perf_counter_ns()
        row = conn.execute(stmt, params).first()
        out.append(time.perf_counter_ns() - start)
        assert row[0] == "1.0.0"
    return out


def _event_row(seq: int) -> tuple:
    return (seq, "2026-06-10T14:02:00.000000Z", "alice", "entry.registered", f"bench-{seq}", "1.0.0", None,
            PAYLOAD, "{}", "0" * 64, f"{seq:064x}")


def _writes_raw(conn, start_seq: int, n: int) -> float:
    begin = time.perf_counter()
    for seq in range(start_seq, start_seq + n):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", _event_row(seq))
        conn.execute("INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     (f"bench-{seq}", "1.0.0", 1, 0, 0, seq, "2026-06-10T14:02:00.000000Z", "alice", "d" * 64))
        conn.execute("UPDATE head SET seq = ?, hash = ? WHERE id = 1", (seq, f"{seq:064x}"))
        conn.execute("COMMIT")
    return n / (time.perf_counter() - begin)


def _writes_sa(engine, tables, start_seq: int, n: int) -> float:
    _, events, entries, head = tables
    cols = [c.name for c in events.columns]
    insert_event, insert_entry = events.insert(), entries.insert()
    update_head = head.update().where(head.c.id == 1)
    begin = time.perf_counter()
    for seq in range(start_seq, start_seq + n):
        with engine.begin() as conn:
            conn.execute(insert_event, dict(zip(cols, _event_row(seq), strict=True)))
            conn.execute(insert_entry, {"name": f"bench-{seq}", "version": "1.0.0", "vmajor": 1, "vminor": 0,
                                        "vpatch": 0, "seq": seq, "created_at": "2026-06-10T14:02:00.000000Z",
                                        "author": "alice", "digest": "d" * 64})
            conn.execute(update_head.values(seq=seq, hash=f"{seq:064x}"))
    return n / (time.perf_counter() - begin)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--reads", type=int, default=20000)
    parser.add_argument("--writes", type=int, default=2000)
    parser.add_argument("--synchronous", choices=("FULL", "NORMAL"), default="FULL")
    args = parser.parse_args(argv)

    imp_sa = _import_time("sqlalchemy, sqlalchemy.sql", args.rounds)
    imp_raw = _import_time("sqlite3", args.rounds)

    with tempfile.TemporaryDirectory(prefix="llmreg-sa-bench-") as tmp:
        raw_path, sa_path = Path(tmp) / "raw.db", Path(tmp) / "sa.db"
        _setup(raw_path)
        _setup(sa_path)
        import sqlalchemy

        raw, engine, tables = _raw_conn(raw_path, args.synchronous), _sa_engine(sa_path, args.synchronous), _tables()
        reads_raw, reads_sa, rates_raw, rates_sa = [], [], [], []
        per_round_reads, per_round_writes = args.reads // args.rounds, args.writes // args.rounds
        with engine.connect() as sa_read:
            for r in range(args.rounds):  # alternate sides: the same machine load for both
                reads_raw += _reads_raw(raw, per_round_reads)
                reads_sa += _reads_sa(sa_read, tables[0], per_round_reads)
                sa_read.rollback()  # end the read transaction Core opened, as a store would
                rates_raw.append(_writes_raw(raw, 1 + r * per_round_writes, per_round_writes))
                rates_sa.append(_writes_sa(engine, tables, 1 + r * per_round_writes, per_round_writes))
        raw.close()
        engine.dispose()

    p50_raw, p99_raw = _percentiles(reads_raw)
    p50_sa, p99_sa = _percentiles(reads_sa)
    best_raw, best_sa = max(rates_raw), max(rates_sa)
    print(f"SQLAlchemy {sqlalchemy.__version__} Core vs raw sqlite3 (SQLite {__import__('sqlite3').sqlite_version}), "
          f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; "
          f"synchronous={args.synchronous}, WAL")
    rows = [
        ("import (fresh interpreter, ms)", f"{imp_sa * 1000:.1f}", f"{imp_raw * 1000:.1f}", f"{imp_sa / max(imp_raw, 1e-9):.1f}x"),
        ("resolve-shaped SELECT p50 (us)", f"{p50_sa:.1f}", f"{p50_raw:.1f}", f"{p50_sa / p50_raw:.1f}x"),
        ("resolve-shaped SELECT p99 (us)", f"{p99_sa:.1f}", f"{p99_raw:.1f}", f"{p99_sa / p99_raw:.1f}x"),
        ("registration-shaped txn (best round, /s)", f"{best_sa:,.0f}", f"{best_raw:,.0f}", f"{best_sa / best_raw:.2f}x"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'figure':<{width}}  {'SQLAlchemy Core':>16}  {'raw DB-API':>12}  SQLAlchemy/raw")
    for name, sa, rw, ratio in rows:
        print(f"{name:<{width}}  {sa:>16}  {rw:>12}  {ratio}")
    print("per-round registrations/s  SQLAlchemy: " + ", ".join(f"{r:,.0f}" for r in rates_sa)
          + "  raw: " + ", ".join(f"{r:,.0f}" for r in rates_raw))
    return 0


if __name__ == "__main__":
    sys.exit(main())
