"""The call log: batched off the request path, never lost, summarised per version (and per
experiment variant); an older table is upgraded in place without losing rows."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import inspect

from llmreg.registry.errors import BadInput
from llmreg.serving.call_log import CallLogWriter, ensure_table, existing_columns, make_engine, read_rows, utc_now
from llmreg.serving.call_metrics import count_calls, format_summary, measure_window, percentile, summarize_calls
from llmreg.serving.config import CallLogConfig
from serving_fixtures import BOTH_STORES


def row(i: int, *, version: str = "1.0.0", status: int = 200, latency: float = 10.0, variant: str = "production",
        env: str = "default") -> dict:
    return {"request_id": f"r{i}", "time": utc_now(), "endpoint": "chat", "name": "support-triage",
            "version": version, "env": env, "stage": "production", "variant": variant, "status": status,
            "latency_ms": latency, "upstream_ms": latency / 2}


@BOTH_STORES
def test_concurrent_submitters_every_row_lands_once(store_url):
    writer = CallLogWriter(store_url, CallLogConfig(batch_size=64, flush_interval_s=0.005)).start()
    threads = [threading.Thread(target=lambda t=t: [writer.submit(row(t * 1000 + i)) for i in range(500)])
               for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert writer.flush(10)
    rows = read_rows(writer.engine)
    assert len(rows) == 4000
    assert len({r["request_id"] for r in rows}) == 4000
    writer.close()


def test_close_drains_the_queue(store_url):
    writer = CallLogWriter(store_url, CallLogConfig(flush_interval_s=5.0)).start()
    for i in range(300):
        writer.submit(row(i))
    writer.close()
    engine = make_engine(store_url)
    assert count_calls(engine) == 300


def test_rows_the_database_refuses_are_spilled_then_replayed(store_url, tmp_path):
    spill = tmp_path / "spill.jsonl"
    writer = CallLogWriter(store_url, CallLogConfig(flush_interval_s=0.01, spill_path=str(spill))).start()
    engine = make_engine(store_url)
    with engine.begin() as conn:  # make every insert fail: the table is gone
        conn.exec_driver_sql("ALTER TABLE gateway_calls RENAME TO gateway_calls_away")
    for i in range(25):
        writer.submit(row(i))
    writer.close(timeout=1.0)
    assert spill.exists() and len(spill.read_text().splitlines()) == 25
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE gateway_calls_away RENAME TO gateway_calls")
    restarted = CallLogWriter(store_url, CallLogConfig(spill_path=str(spill))).start()
    assert count_calls(restarted.engine) == 25
    assert not spill.exists()
    restarted.close()


def test_table_lives_beside_the_registry_tables(store_url, registry):
    writer = CallLogWriter(store_url).start()
    names = set(inspect(writer.engine).get_table_names())
    assert {"gateway_calls", "events", "stage_pointers"} <= names
    writer.close()


def test_percentile_nearest_rank():
    values = sorted(float(v) for v in range(1, 101))
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile([7.0], 99) == 7.0
    assert percentile([], 50) is None


@BOTH_STORES
def test_summarize_per_version_and_variant(store_url):
    writer = CallLogWriter(store_url).start()
    for i in range(100):
        writer.submit(row(i, version="1.0.0", latency=float(i + 1)))
    for i in range(10):
        writer.submit(row(1000 + i, version="1.1.0", variant="canary", status=500 if i < 3 else 200, latency=5.0))
    for i in range(4):
        writer.submit(row(2000 + i, version="1.2.0", variant="shadow", status=502))
    writer.submit(row(3000, version="1.0.0", env="eu"))
    writer.submit(row(3001, version="1.0.0", status=400))  # the client's mistake, not the version's
    writer.close()
    summaries = {(s.version, s.variant): s for s in summarize_calls(store_url, "support-triage", "default")}
    assert set(summaries) == {("1.0.0", "production"), ("1.1.0", "canary"), ("1.2.0", "shadow")}
    prod = summaries[("1.0.0", "production")]
    assert (prod.count, prod.errors, prod.p50_ms, prod.p99_ms) == (101, 0, 50.0, 99.0)
    canary = summaries[("1.1.0", "canary")]
    assert canary.count == 10 and canary.errors == 3 and canary.error_rate == pytest.approx(0.3)
    text = format_summary("support-triage", "default", list(summaries.values()))
    assert "1.1.0" in text and "30.00%" in text


def test_summary_of_a_registry_without_calls_is_empty_and_creates_nothing(store_url, registry):
    assert summarize_calls(store_url, "support-triage", "default") == []
    # the registry's schema holds the (empty) call log since revision 0005; a summary writes nothing
    assert read_rows(make_engine(store_url)) == []
    assert "no calls logged" in format_summary("support-triage", "default", [])


def test_measure_window_takes_the_most_recent_served_calls(store_url):
    writer = CallLogWriter(store_url).start()
    for i in range(50):
        writer.submit(row(i, version="2.0.0", status=500))  # old failures
    for i in range(30):
        writer.submit(row(100 + i, version="2.0.0"))
    for i in range(30):
        writer.submit(row(200 + i, version="2.0.0", variant="shadow", status=500))
    writer.close()
    m = measure_window(make_engine(store_url), "support-triage", "default", "2.0.0", window=30)
    assert (m.calls, m.errors) == (30, 0)
    assert m.evidence()["calls"] == 30 and m.evidence()["error_rate"] == 0.0


def _first_release_table(engine) -> None:
    """gateway_calls as the first gateway release created it: no `experiment` column."""
    from sqlalchemy import BigInteger, Column, Float, Index, Integer, MetaData, Table, Text

    old = MetaData()
    Table("gateway_calls", old,
          Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
          *(Column(n, Text, nullable=n in ("request_id", "time", "endpoint"))
            for n in ("request_id", "time", "endpoint", "name", "version", "env", "stage", "variant")),
          Column("status", Integer, nullable=False), Column("error", Text),
          Column("latency_ms", Float, nullable=False), Column("upstream_ms", Float),
          Column("prompt_tokens", Integer), Column("completion_tokens", Integer),
          Column("caller", Text), Column("replica", Text), Column("agrees", Integer),
          Index("ix_gateway_calls_name_env_version_id", "name", "env", "version", "id"))
    old.create_all(engine)
    with engine.begin() as conn:
        conn.execute(old.tables["gateway_calls"].insert(), [
            {k: v for k, v in row(i, variant="production").items()} for i in range(3)])


@BOTH_STORES
def test_an_older_table_gets_the_experiment_column_and_keeps_its_rows(store_url):
    engine = make_engine(store_url)
    _first_release_table(engine)
    assert "experiment" not in existing_columns(engine)
    # readers on the old table: experiment reads as NULL, an experiment filter finds nothing, nothing is altered
    assert [r["experiment"] for r in read_rows(engine)] == [None, None, None]
    assert summarize_calls(store_url, None, experiment="triage-ab") == []
    assert [s.count for s in summarize_calls(store_url, "support-triage", by_experiment=True)] == [3]
    assert "experiment" not in existing_columns(engine)

    writer = CallLogWriter(store_url, CallLogConfig(flush_interval_s=0.005)).start()
    assert "experiment" in existing_columns(writer.engine)
    assert "ix_gateway_calls_experiment" in {i["name"] for i in inspect(engine).get_indexes("gateway_calls")}
    for i in range(4):
        writer.submit({**row(100 + i), "experiment": "triage-ab/control" if i % 2 else "triage-ab/candidate"})
    writer.close()
    ensure_table(engine)  # idempotent: a second start changes nothing (the schema is at head)
    rows = read_rows(engine)
    assert len(rows) == 7
    assert [r["request_id"] for r in rows[:3]] == ["r0", "r1", "r2"] and {r["experiment"] for r in rows[:3]} == {None}
    assert sorted(r["experiment"] for r in rows[3:]) == ["triage-ab/candidate"] * 2 + ["triage-ab/control"] * 2
    split = {s.experiment: s.count for s in summarize_calls(store_url, "support-triage", by_experiment=True)}
    assert split == {None: 3, "triage-ab/candidate": 2, "triage-ab/control": 2}
    assert [s.count for s in summarize_calls(store_url, "support-triage")] == [7]  # default grouping unchanged
    engine.dispose()


@BOTH_STORES
def test_replicas_upgrading_the_table_at_once_all_succeed(store_url):
    engine = make_engine(store_url)
    _first_release_table(engine)
    engines = [make_engine(store_url) for _ in range(4)]
    barrier = threading.Barrier(len(engines))
    errors: list[BaseException] = []

    def upgrade(e) -> None:
        barrier.wait()
        try:
            ensure_table(e)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=upgrade, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert [c for c in inspect(engine).get_columns("gateway_calls") if c["name"] == "experiment"]
    for e in engines + [engine]:
        e.dispose()


def test_summaries_by_experiment_match_the_name_exactly(store_url):
    writer = CallLogWriter(store_url).start()
    labels = ["triage_ab/x", "triagexab/y", "triage-ab-2/z", "triage-ab/control", "triage-ab/control"]
    for i, label in enumerate(labels):
        writer.submit({**row(i, version="1.0.0" if i < 4 else "1.1.0"), "experiment": label})
    writer.close()
    assert [s.experiment for s in summarize_calls(store_url, None, experiment="triage_ab")] == ["triage_ab/x"]
    got = summarize_calls(store_url, None, experiment="triage-ab")
    assert [(s.experiment, s.version, s.count) for s in got] == [("triage-ab/control", "1.1.0", 1),
                                                                ("triage-ab/control", "1.0.0", 1)]
    text = format_summary("triage-ab", None, got)
    assert "experiment variant" in text and "triage-ab/control" in text
    with pytest.raises(BadInput, match="give an entry name or an experiment"):
        summarize_calls(store_url, None)
