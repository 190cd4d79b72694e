"""promote_on_eval_sensor: an eval above its suite threshold becomes a staging promotion.

The cursor is the registry log's sequence number, so every eval is judged once, whoever
recorded it (this pipeline, `llmreg`, another service). Passing evals request a run with a
run_key naming the exact version and eval run, so a repeated tick never promotes twice.
Failing evals get their failed gate recorded in the registry and nothing else.
"""

import dagster as dg

from pipelines.jobs import promote_to_staging_job
from pipelines.resources import RegistryResource

ACTOR = "system:promote-on-eval"


def _env() -> str:
    import os

    return os.environ.get("LLMREG_STAGING_ENV", "default")


@dg.sensor(job=promote_to_staging_job, minimum_interval_seconds=30,
           default_status=dg.DefaultSensorStatus.STOPPED,
           description="Requests a staging promotion for each new eval that passes its suite.")
def promote_on_eval_sensor(context: dg.SensorEvaluationContext, registry: RegistryResource):
    from llmreg.registry.errors import RegistryError

    reg = registry.open()
    after = int(context.cursor) if context.cursor else 0
    env = _env()
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
            requests.append(dg.RunRequest(
                run_key=f"promote:{name}@{version}:{env}:{eval_run}",
                run_config={"ops": {"staging_promotion": {"config": {
                    "name": name, "version": version, "env": env, "eval_run": eval_run}}}},
                tags={"llmreg/entry": f"{name}@{version}", "llmreg/eval_run": eval_run},
            ))
        else:
            try:
                reg.record_gate_failure(name, version, "staging", env, actor=ACTOR,
                                        detail=f"eval run {eval_run} failed: {', '.join(report.get('failed_checks', []))}",
                                        evidence={"eval_run": eval_run})
            except RegistryError as exc:
                context.log.warning(f"could not record the failed gate for {name}@{version}: {exc}")
    return dg.SensorResult(run_requests=requests, cursor=str(last))
