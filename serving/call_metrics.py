"""Per-version figures from `gateway_calls`: count, error rate, p50/p99 latency.

`summarize_calls` backs `llmreg metrics NAME --env ENV`; `measure_window` is what the SLO
guard evaluates (the most recent N calls of one version). Percentiles are nearest-rank,
computed in Python so SQLite and PostgreSQL give identical answers.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Sequence

from sqlalchemy import and_, func, inspect, select

from serving.call_log import gateway_calls, make_engine


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in [0, 100]) of an ascending sequence; None when empty."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q / 100.0 * len(sorted_values)))
    return float(sorted_values[min(rank, len(sorted_values)) - 1])


def is_error(status: int) -> bool:
    """Server-side failures count against a version; a client's malformed request does not."""
    return status >= 500 or status == 429


@dataclass(frozen=True, slots=True)
class CallSummary:
    version: str | None
    variant: str
    count: int
    errors: int
    error_rate: float
    p50_ms: float | None
    p99_ms: float | None
    first: str | None
    last: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _summary(version: str | None, variant: str, rows: list[tuple[float, int, str]]) -> CallSummary:
    latencies = sorted(r[0] for r in rows)
    errors = sum(1 for r in rows if is_error(r[1]))
    times = [r[2] for r in rows]
    return CallSummary(version=version, variant=variant, count=len(rows), errors=errors,
                       error_rate=errors / len(rows) if rows else 0.0,
                       p50_ms=percentile(latencies, 50), p99_ms=percentile(latencies, 99),
                       first=min(times) if times else None, last=max(times) if times else None)


def summarize_calls(store_url: str | None, name: str, env: str | None = None, *, since: str | None = None,
                    engine=None) -> list[CallSummary]:
    """One summary per (version, variant) of `name` (in `env`), newest version first.

    `since`: UTC ISO timestamp; only calls at or after it. Shadow calls are summarised as
    their own variant, so a shadow's errors never count against the served version.
    """
    own_engine = engine is None
    engine = engine or make_engine(store_url)
    try:
        if not inspect(engine).has_table(gateway_calls.name):
            return []  # no gateway has logged here yet; a read never creates tables
        c = gateway_calls.c
        conditions = [c.name == name]
        if env is not None:
            conditions.append(c.env == env)
        if since is not None:
            conditions.append(c.time >= since)
        query = select(c.version, c.variant, c.latency_ms, c.status, c.time).where(and_(*conditions))
        groups: dict[tuple[str | None, str], list[tuple[float, int, str]]] = {}
        with engine.connect() as conn:
            for version, variant, latency, status, time in conn.execute(query):
                groups.setdefault((version, variant or "-"), []).append((latency, status, time))
    finally:
        if own_engine:
            engine.dispose()
    summaries = [_summary(version, variant, rows) for (version, variant), rows in groups.items()]
    summaries.sort(key=lambda s: (_semver_key(s.version), s.variant), reverse=True)
    return summaries


def _semver_key(version: str | None) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in (version or "").split("."))
    except ValueError:
        return (-1,)


def format_summary(name: str, env: str | None, summaries: Sequence[CallSummary]) -> str:
    """A plain table for the CLI."""
    header = f"{name} ({env or 'all environments'}): calls per version"
    if not summaries:
        return header + "\n  no calls logged"
    lines = [header, f"  {'version':<10} {'variant':<10} {'calls':>7} {'errors':>7} {'err%':>7} {'p50 ms':>9} {'p99 ms':>9}"]
    for s in summaries:
        p50 = "-" if s.p50_ms is None else f"{s.p50_ms:.1f}"
        p99 = "-" if s.p99_ms is None else f"{s.p99_ms:.1f}"
        lines.append(f"  {s.version or '-':<10} {s.variant:<10} {s.count:>7} {s.errors:>7} {100 * s.error_rate:>6.2f}% {p50:>9} {p99:>9}")
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class WindowMeasurement:
    name: str
    env: str
    version: str
    calls: int
    errors: int
    error_rate: float
    p50_ms: float | None
    p99_ms: float | None
    first: str | None
    last: str | None
    last_id: int | None

    def evidence(self) -> dict[str, Any]:
        """The canary_slo evidence payload lifecycle's production gate reads."""
        data: dict[str, Any] = {"calls": self.calls, "errors": self.errors, "error_rate": round(self.error_rate, 6),
                                "source": "gateway_calls"}
        if self.p50_ms is not None:
            data["p50_ms"] = round(self.p50_ms, 3)
        if self.p99_ms is not None:
            data["p99_ms"] = round(self.p99_ms, 3)
        if self.first is not None:
            data["window"] = {"first": self.first, "last": self.last}
        return data


def measure_window(engine, name: str, env: str, version: str, window: int, *, after_id: int = 0,
                   since: str | None = None) -> WindowMeasurement:
    """The most recent `window` served (non-shadow) calls of name@version in env."""
    c = gateway_calls.c
    conditions = [c.name == name, c.env == env, c.version == version, c.variant != "shadow", c.id > after_id]
    if since is not None:
        conditions.append(c.time >= since)
    query = (select(c.id, c.latency_ms, c.status, c.time).where(and_(*conditions))
             .order_by(c.id.desc()).limit(window))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    latencies = sorted(r[1] for r in rows)
    errors = sum(1 for r in rows if is_error(r[2]))
    return WindowMeasurement(
        name=name, env=env, version=version, calls=len(rows), errors=errors,
        error_rate=errors / len(rows) if rows else 0.0,
        p50_ms=percentile(latencies, 50), p99_ms=percentile(latencies, 99),
        first=rows[-1][3] if rows else None, last=rows[0][3] if rows else None,
        last_id=rows[0][0] if rows else None,
    )


def count_calls(engine, **where: Any) -> int:
    c = gateway_calls.c
    query = select(func.count()).select_from(gateway_calls)
    for key, value in where.items():
        query = query.where(getattr(c, key) == value)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())
