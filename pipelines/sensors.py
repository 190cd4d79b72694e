"""promote_on_eval_sensor: an eval above its suite threshold becomes a staging promotion.

The cursor is the registry log's sequence number, bound to the store's identity
(pipelines/cursors.py), so every eval is judged once, whoever recorded it. Passing evals
request a run with a run_key naming the exact version and eval run, so a repeated tick
never promotes twice. Failing evals get their failed gate recorded in the registry, and
the tick's log says which checks failed and why.
"""
from __future__ import annotations

import os

import dagster as dg

from assets.resources import RegistryResource
from pipelines.cursors import read_cursor, store_identity, write_cursor
from pipelines.jobs import promote_to_staging_job

ACTOR = "system:promote-on-eval"


def why_failed(report: dict) -> str:
    """The failed checks with their details, e.g. 'threshold (accuracy 0.41 < 0.8)'."""
    checks = report.get("checks") or {}
    parts = []
    for name in report.get("failed_checks", []):
        detail = (checks.get(name) or {}).get("detail") or \
            ((report.get("pipeline_checks") or {}).get(name) or {}).get("detail")
        parts.append(f"{name} ({detail})" if detail else name)
    return ", ".join(parts) or "the report is marked not passed"


@dg.sensor(job=promote_to_staging_job, minimum_interval_seconds=30,
           default_status=dg.DefaultSensorStatus.STOPPED,
           description="Requests a staging promotion for each new eval that passes its suite.")
def promote_on_eval_sensor(context: dg.SensorEvaluationContext, registry: RegistryResource):
    from llmreg.registry.errors import RegistryError

    reg = registry.open()
    identity = store_identity(reg)
    after, note = read_cursor(context.cursor, identity)
    if note:
        context.log.warning(note)
    env = os.environ.get("LLMREG_STAGING_ENV", "default")  # read per tick, never at import
    requests, last, judged = [], after, set()
    # Newest first: each version is judged once per tick, on its latest eval.
    for event in sorted(reg.events(after=after, types=("eval.recorded",)), key=lambda e: -e.seq):
        last = max(last, event.seq)
        report = event.payload.get("report", {})
        name, version = event.name, event.version
        eval_run = report.get("run_id", f"seq{event.seq}")
        if reg.status(name).of(version, env) not in ("development",):
            continue  # already at or past staging here
        if (name, version) in judged:
            continue
        judged.add((name, version))
        if report.get("passed"):
            context.log.info(f"{name}@{version}: eval {eval_run} passed; requesting staging in {env}")
            requests.append(dg.RunRequest(
                run_key=f"promote:{name}@{version}:{env}:{eval_run}",
                run_config={"ops": {"staging_promotion": {"config": {
                    "name": name, "version": version, "env": env, "eval_run": eval_run}}}},
                tags={"llmreg/entry": f"{name}@{version}", "llmreg/eval_run": eval_run},
            ))
            continue
        why = why_failed(report)
        context.log.warning(f"{name}@{version}: staging gate failed in {env}: eval {eval_run} failed {why}")
        try:
            reg.record_gate_failure(name, version, "staging", env, actor=ACTOR,
                                    detail=f"eval run {eval_run} failed: {why}",
                                    evidence={"eval_run": eval_run})
        except RegistryError as exc:
            context.log.warning(f"could not record the failed gate for {name}@{version}: {exc}")
    if not requests and last == after:
        context.log.info("no new evals")
    return dg.SensorResult(run_requests=requests, cursor=write_cursor(identity, last))
