"""What the drift check measures for one production version (Registry.drift_check's `observe`):

- serving: the gateway's call log (`gateway_calls`, in the registry's database) over the
  drift rule's window: calls, error rate (server-side failures, as the SLO guard counts
  them) and nearest-rank p99 of this version in this environment; shadow calls excluded;
- score: a fresh run of the version's suite with the machinery provider re-evaluation uses
  (evals/providers/qualify.py: the family's pinned suite, the OpenAI-compatible runner) when
  providers.yaml configures the version's provider and a family follows its snapshot.
  Anything else (a local model, no providers.yaml) is not re-run: its score is not judged,
  and the finding says so in `observed.window`.

    observe = observer(reg, providers=load_providers("providers.yaml"), root=".")
    report = reg.drift_check(observe)
"""
from __future__ import annotations

import math
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable


def serving_window(registry: Any, name: str, version: str, env: str, minutes: int,
                   now: datetime | None = None) -> tuple[int, float | None, float | None, str]:
    """(calls, error_rate, p99_ms, window text) of one version's served calls in the window."""
    from sqlalchemy import and_, select

    from llmreg.serving.call_log import existing_columns, gateway_calls, make_engine
    from llmreg.serving.call_metrics import is_error, percentile

    end = now or datetime.now(timezone.utc)
    start = end - timedelta(minutes=minutes)
    fmt = "%Y-%m-%dT%H:%M:%S.%fZ"
    window = f"{start.strftime('%Y-%m-%dT%H:%MZ')}/{end.strftime('%Y-%m-%dT%H:%MZ')}"
    engine = make_engine(registry.store.url)
    try:
        if not existing_columns(engine):
            return 0, None, None, window  # no gateway has logged here: nothing served to judge
        c = gateway_calls.c
        query = select(c.latency_ms, c.status, c.variant).where(and_(
            c.name == name, c.version == version, c.env == env,
            c.time >= start.strftime(fmt), c.time <= end.strftime(fmt)))
        with engine.connect() as conn:
            rows = [(latency, status) for latency, status, variant in conn.execute(query) if variant != "shadow"]
    finally:
        engine.dispose()
    if not rows:
        return 0, None, None, window
    errors = sum(1 for _, status in rows if is_error(status))
    return len(rows), errors / len(rows), percentile(sorted(r[0] for r in rows), 99), window


def suite_rerun(providers: Any, root: str | Path = ".") -> Callable[[Any], tuple[float | None, str]]:
    """rerun(entry) -> (score, note): the version's suite run again against its snapshot."""
    from evals.providers.qualify import _load_suite, _runner
    from evals.run import EvalError, run_suite
    from evals.runners import RunnerError

    root = Path(root)

    def rerun(entry: Any) -> tuple[float | None, str]:
        model = entry.spec.model
        if providers is None or not providers.has_provider(model.provider):
            return None, f"score not re-evaluated: no provider {model.provider!r} in providers.yaml"
        provider = providers.provider(model.provider)
        family = provider.family_of(model.request_id)
        if family is None:
            return None, f"score not re-evaluated: no family of {provider.name} follows {model.request_id}"
        suite, template, frame, dataset_version = _load_suite(family, root)
        runner = _runner(provider, family, model.request_id)
        try:
            report = run_suite(suite, runner, frame, target={}, dataset_version=dataset_version, root=root,
                               prompt=template, run_id=f"drift-{uuid.uuid4().hex[:12]}")
        except (EvalError, RunnerError, OSError, ValueError) as exc:
            return None, f"score not re-evaluated: the suite could not run ({type(exc).__name__}: {exc})"
        if report.errors:
            return None, f"score not re-evaluated: {report.errors} of {report.n} requests failed after retries"
        return float(report.accuracy), f"{suite.ref} re-run {report.run_id}"

    return rerun


def observer(registry: Any, *, providers: Any = None, root: str | Path = ".", now: datetime | None = None,
             rerun: Callable[[Any], tuple[float | None, str]] | None = None) -> Callable[..., Any]:
    """The `observe(entry, env, rule) -> Observed` Registry.drift_check calls per production version."""
    from llmreg.registry.drift import Observed

    rerun = rerun or suite_rerun(providers, root)

    def observe(entry: Any, env: str, rule: Any) -> Observed:
        score, note = rerun(entry)
        if score is not None and not (math.isfinite(score) and 0.0 <= score <= 1.0):
            score, note = None, f"score not judged: re-run gave {score!r}"
        calls, error_rate, p99, window = serving_window(registry, entry.name, entry.version, env,
                                                        rule.window_minutes, now)
        return Observed(score=score, error_rate=error_rate, p99_ms=p99, calls=calls, window=f"{window}; {note}")

    return observe
