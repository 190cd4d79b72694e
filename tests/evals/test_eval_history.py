"""Score-history plotting: a real PNG from records, clear errors for bad records."""
from __future__ import annotations

import struct

import pytest

from evals.history import HistoryError, model_label, plot_history, records_from_reports

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _png_size(path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == PNG_MAGIC
    return struct.unpack(">II", header[16:24])


RECORDS = [
    {"suite": "triage-eval", "model": "tuned", "time": "2025-01-01T10:00:00Z", "version": "1.0.0", "score": 0.71},
    {"suite": "triage-eval", "model": "tuned", "time": "2025-01-03T10:00:00Z", "version": "1.0.0", "score": 0.83},
    {"suite": "triage-eval", "model": "tuned", "time": "2025-01-05T10:00:00+00:00", "version": "1.1.0", "score": 0.88,
     "threshold": 0.8},
    {"suite": "triage-eval", "model": "base", "time": "2025-01-01T10:00:00", "version": "1.0.0", "score": 0.2},
    {"suite": "other-eval", "model": "gpt-4o-2024-08-06", "time": "2025-01-02T00:00:00Z", "version": "2.0.0", "score": 0.9},
]


def test_plot_writes_a_png_with_a_panel_per_suite(tmp_path):
    one = plot_history(RECORDS[:4], tmp_path / "one.png")
    two = plot_history(RECORDS, tmp_path / "plots" / "two.png", title="history")
    w1, h1 = _png_size(one)
    w2, h2 = _png_size(two)
    assert w1 == w2 == 900
    assert h2 > h1  # a second suite adds a panel
    assert [p.name for p in (tmp_path / "plots").iterdir()] == ["two.png"]  # no temp files left


def test_records_from_reports_round_trip(tmp_path):
    report = {
        "suite": {"name": "triage-eval", "version": "1.0.0"},
        "target": {"variant": "tuned", "adapter_sha256": "ab" * 32},
        "finished_at": "2025-02-01T12:00:00.000+00:00",
        "accuracy": 0.91,
        "checks": {"threshold": {"passed": True, "value": 0.91, "bound": 0.8}},
    }
    [record] = records_from_reports([report])
    assert record == {"suite": "triage-eval", "version": "1.0.0", "model": "tuned adapter ababababab",
                      "time": "2025-02-01T12:00:00.000+00:00", "score": 0.91, "threshold": 0.8}
    assert plot_history([record], tmp_path / "h.png").exists()
    with pytest.raises(HistoryError, match="report 0: missing 'accuracy'"):
        records_from_reports([{k: v for k, v in report.items() if k != "accuracy"}])


@pytest.mark.parametrize(
    "target,label",
    [
        ({"name": "triage-prod"}, "triage-prod"),
        ({"snapshots": ["gpt-4o-2024-05-13", "gpt-4o-2024-08-06"], "model": "gpt-4o"}, "gpt-4o-2024-08-06"),
        ({"variant": "base", "base_model_sha256": "cd" * 32}, "base base cdcdcdcdcd"),
        ({"model": "stub"}, "stub"),
        ({}, "unknown model"),
    ],
)
def test_model_label(target, label):
    assert model_label(target) == label


@pytest.mark.parametrize(
    "records,expected",
    [
        ([], "no history records"),
        ([{k: v for k, v in RECORDS[0].items() if k != "score"}], "record 0: field score is missing"),
        ([{**RECORDS[0], "score": "high"}], "field score must be a number"),
        ([RECORDS[0], {**RECORDS[0], "time": "last tuesday"}], "record 1: field time 'last tuesday' is not ISO 8601"),
    ],
)
def test_bad_records_write_nothing(tmp_path, records, expected):
    out = tmp_path / "h.png"
    with pytest.raises(HistoryError, match=expected):
        plot_history(records, out)
    assert not out.exists()


def test_registry_history_plots_recorded_reports_per_version(tmp_path):
    from evals.history import plot_registry_history
    from llmreg.registry.api import Registry

    reg = Registry.open(f"sqlite:///{tmp_path / 'r.db'}", artifacts=str(tmp_path / "a"))
    assert plot_registry_history(reg, "support-triage", tmp_path / "none.png") is None
    spec = {"name": "support-triage", "model": "gpt-5-mini-2026-06-01", "params": {"max_tokens": 5}}
    entry = reg.register(spec, actor="a")
    for i, score in enumerate((0.91, 0.93)):
        reg.record_eval("support-triage", entry.version, {
            "run_id": f"r{i}", "suite": {"name": "triage-eval", "version": "1.0.0", "threshold": 0.8},
            "accuracy": score, "passed": True, "failed_checks": [], "target": {},
            "finished_at": f"2026-11-0{i + 1}T10:00:00Z"}, actor="a")
    out = plot_registry_history(reg, "support-triage", tmp_path / "h.png")
    assert out is not None and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5000
