"""Score history: one PNG, a panel per suite, a line per model, points labelled with the
suite version that scored them (a version change marks where scores stop being comparable).

Uses matplotlib's Agg canvas directly (no pyplot), so it never changes the backend of
the process that calls it and needs no display.
"""
from __future__ import annotations

import os
import tempfile
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping

REQUIRED = ("suite", "model", "time", "version", "score")


class HistoryError(ValueError):
    """A history record is missing a field or has a bad value."""


def records_from_reports(reports: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Turn EvalReport.to_dict() outputs into history records."""
    records = []
    for i, report in enumerate(reports):
        try:
            records.append({
                "suite": report["suite"]["name"],
                "version": report["suite"]["version"],
                "model": model_label(report.get("target") or {}),
                "time": report["finished_at"],
                "score": report["accuracy"],
                "threshold": report.get("checks", {}).get("threshold", {}).get("bound"),
            })
        except (KeyError, TypeError) as exc:
            raise HistoryError(f"report {i}: missing {exc}: pass EvalReport.to_dict() output") from None
    return records


def model_label(target: Mapping[str, Any]) -> str:
    """A short, stable name for what was evaluated."""
    if target.get("name"):
        return str(target["name"])
    if target.get("snapshots"):
        return str(target["snapshots"][-1])
    variant = f"{target['variant']} " if target.get("variant") else ""
    if target.get("adapter_sha256"):
        return f"{variant}adapter {str(target['adapter_sha256'])[:10]}"
    if target.get("base_model_sha256"):
        return f"{variant}base {str(target['base_model_sha256'])[:10]}"
    if target.get("model"):
        return str(target["model"])
    return "unknown model"


def _parse_time(value: Any, index: int) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise HistoryError(f"record {index}: field time {value!r} is not ISO 8601: use e.g. 2025-01-31T14:02:00Z") from None
    else:
        raise HistoryError(f"record {index}: field time must be an ISO string or datetime")
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _validated(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for i, record in enumerate(records):
        for key in REQUIRED:
            if key not in record or record[key] is None:
                raise HistoryError(f"record {i}: field {key} is missing: every record needs {', '.join(REQUIRED)}")
        score = record["score"]
        if isinstance(score, bool) or not isinstance(score, (int, float)):
            raise HistoryError(f"record {i}: field score must be a number, got {score!r}")
        rows.append({**record, "time": _parse_time(record["time"], i), "score": float(score)})
    if not rows:
        raise HistoryError("no history records to plot: pass at least one report")
    return rows


def plot_history(
    records: Iterable[Mapping[str, Any]], out_path: str | Path, *, title: str | None = None
) -> Path:
    """Write the score-history PNG for `records` to `out_path` (atomically); return the path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = _validated(records)
    by_suite: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        by_suite[str(row["suite"])][str(row["model"])].append(row)

    suites = sorted(by_suite)
    fig = Figure(figsize=(9, 3.2 * len(suites)), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(suites), 1, squeeze=False, sharex=True)[:, 0]  # one time axis
    for ax, suite in zip(axes, suites):
        thresholds = set()
        for model in sorted(by_suite[suite]):
            points = sorted(by_suite[suite][model], key=lambda r: r["time"])
            times = [p["time"] for p in points]
            scores = [p["score"] for p in points]
            ax.plot(times, scores, marker="o", label=model)
            previous = None
            for p in points:  # label the first point of each suite version
                if p["version"] != previous:
                    ax.annotate(f"v{p['version']}", (p["time"], p["score"]),
                                textcoords="offset points", xytext=(0, 7), ha="center", fontsize=8)
                    previous = p["version"]
            thresholds.update(p["threshold"] for p in points if p.get("threshold") is not None)
        for threshold in sorted(thresholds):
            ax.axhline(threshold, linestyle="--", linewidth=1, color="grey")
        ax.set_title(f"{title + ': ' if title else ''}{suite}")
        ax.set_ylabel("score")
        ax.set_ylim(-0.02, 1.08)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
    fig.autofmt_xdate()

    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".png", dir=out.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, format="png")
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def plot_registry_history(registry: Any, name: str, out_path: str | Path) -> Path | None:
    """The score history of every eval the registry recorded for `name`'s versions; None if none.

    Reports that are not in evals.run's shape (hand-recorded scores) are left out.
    """
    reports = []
    for event in registry.events(types=("eval.recorded",), name=name):
        report = (event.payload or {}).get("report")
        if isinstance(report, Mapping) and isinstance(report.get("suite"), Mapping) and "accuracy" in report:
            reports.append({**report, "target": {**(report.get("target") or {}), "name": f"{name}@{event.version}"}})
    if not reports:
        return None
    return plot_history(records_from_reports(reports), out_path, title=f"{name}: eval score history")
