"""Per-version figures from `gateway_calls`: count, error rate, p50/p99 latency.

`summarize_calls` backs `llmreg metrics NAME --env ENV`; `measure_window` is what the SLO
guard evaluates (the most recent N calls of one version). Percentiles are nearest-rank,
computed in Python so SQLite and PostgreSQL give identical answers.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Sequence

from sqlalchemy import and_, func, literal, select

from llmreg.registry.errors import BadInput
from llmreg.serving.call_log import existing_columns, gateway_calls, make_engine


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in [0, 100]) of an ascending sequence; None when empty."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q / 100.0 * len(sorted_values)))
    return float(sorted_values[min(rank, len(sorted_values)) - 1])


def is_error(status: int) -> bool:
    """Server-side failures count against a version. A request's own fault (4xx, an upstream's
    context-length 400 included), a client that hung up (499), a rate limit (429) and the
    gateway shedding load (503 + Retry-After) do not: they say nothing about the version."""
    return status >= 500 and status != 503


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
    experiment: str | None = None  # 'EXPERIMENT/VARIANT' when grouped by experiment variant
    name: str | None = None  # the entry (an experiment's variants may be different entries)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _summary(key: tuple[str | None, str | None, str, str | None], rows: list[tuple[float, int, str]]) -> CallSummary:
    name, version, variant, experiment = key
    latencies = sorted(r[0] for r in rows)
    errors = sum(1 for r in rows if is_error(r[1]))
    times = [r[2] for r in rows]
    return CallSummary(version=version, variant=variant, count=len(rows), errors=errors,
                       error_rate=errors / len(rows) if rows else 0.0,
                       p50_ms=percentile(latencies, 50), p99_ms=percentile(latencies, 99),
                       first=min(times) if times else None, last=max(times) if times else None,
                       experiment=experiment, name=name)


def summarize_calls(store_url: str | None, name: str | None, env: str | None = None, *, since: str | None = None,
                    engine=None, experiment: str | None = None, by_experiment: bool = False) -> list[CallSummary]:
    """One summary per (version, variant) of `name` (in `env`), newest version first.

    `since`: UTC ISO timestamp; only calls at or after it. Shadow calls are summarised as
    their own variant, so a shadow's errors never count against the served version.
    `by_experiment`: also split by experiment variant ('triage-ab/control'; None for calls
    no experiment assigned). `experiment`: only that experiment's calls, across every entry
    its variants name (`name` may then be None), grouped by experiment variant.
    """
    if name is None and experiment is None:
        raise BadInput("summarize_calls: give an entry name or an experiment", field="name")
    by_experiment = by_experiment or experiment is not None
    own_engine = engine is None
    engine = engine or make_engine(store_url)
    try:
        present = existing_columns(engine)
        if not present:
            return []  # no gateway has logged here yet; a read never creates tables
        if experiment is not None and "experiment" not in present:
            return []  # a table from before experiments: none of its calls was assigned by one
        c = gateway_calls.c
        conditions = []
        if name is not None:
            conditions.append(c.name == name)
        if experiment is not None:
            conditions.append(c.experiment.startswith(f"{experiment}/", autoescape=True))
        if env is not None:
            conditions.append(c.env == env)
        if since is not None:
            conditions.append(c.time >= since)
        arm = c.experiment if by_experiment and "experiment" in present else literal(None)
        query = select(c.name, c.version, c.variant, arm, c.latency_ms, c.status, c.time).where(and_(*conditions))
        groups: dict[tuple[str | None, str | None, str, str | None], list[tuple[float, int, str]]] = {}
        with engine.connect() as conn:
            for entry, version, variant, label, latency, status, time in conn.execute(query):
                groups.setdefault((entry, version, variant or "-", label), []).append((latency, status, time))
    finally:
        if own_engine:
            engine.dispose()
    summaries = [_summary(key, rows) for key, rows in groups.items()]
    summaries.sort(key=lambda s: (_semver_key(s.version), s.variant), reverse=True)
    summaries.sort(key=lambda s: (s.experiment or "", s.name or ""))  # stable: versions stay newest first
    return summaries


def _semver_key(version: str | None) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in (version or "").split("."))
    except ValueError:
        return (-1,)


def format_summary(name: str, env: str | None, summaries: Sequence[CallSummary]) -> str:
    """A plain table for the CLI."""
    by_experiment = any(s.experiment for s in summaries)
    header = f"{name} ({env or 'all environments'}): calls per version" + (" and experiment variant" if by_experiment else "")
    if not summaries:
        return header + "\n  no calls logged"
    several = len({s.name for s in summaries}) > 1
    width = max([len(s.experiment or "-") for s in summaries] + [10])
    entry_width = max([len(s.name or "-") for s in summaries] + [5])
    lead = (f"{'experiment':<{width}} " if by_experiment else "") + (f"{'entry':<{entry_width}} " if several else "")
    lines = [header, f"  {lead}{'version':<10} {'variant':<10} {'calls':>7} {'errors':>7} {'err%':>7} {'p50 ms':>9} {'p99 ms':>9}"]
    for s in summaries:
        p50 = "-" if s.p50_ms is None else f"{s.p50_ms:.1f}"
        p99 = "-" if s.p99_ms is None else f"{s.p99_ms:.1f}"
        lead = (f"{s.experiment or '-':<{width}} " if by_experiment else "") + (f"{s.name or '-':<{entry_width}} " if several else "")
        lines.append(f"  {lead}{s.version or '-':<10} {s.variant:<10} {s.count:>7} {s.errors:>7} {100 * s.error_rate:>6.2f}% {p50:>9} {p99:>9}")
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
