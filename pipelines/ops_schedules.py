"""Operations on a schedule: `rollback_drill_schedule` (weekly, Monday 06:00 UTC, or
$LLMREG_DRILL_CRON) runs `rollback_drill_job`, which rehearses the rollback of every
(name, env) holding a production version: `Registry.drill_all` with the gateway's checks
(llmreg/drill_checks.py). Each drill is a `rollback.drill` event in the registry; the run
shows a table of them and fails when one failed, so the Dagster UI shows it red (and a
webhook subscribed to rollback.drill hears about it from the registry's outbox).

The drill's actor needs `rollback` in roles.yaml (e.g. `system:rollback-drill: [slo-guard]`).

The code location (pipelines/definitions.py) builds the schedule with the cron it reads
when it loads (`build_rollback_drill_schedule`); nothing here reads the environment at import.
"""

import dagster as dg

from assets.resources import RegistryResource

DRILL_CRON = "0 6 * * 1"  # Monday 06:00 UTC; LLMREG_DRILL_CRON overrides it when the location loads


class RollbackDrillConfig(dg.Config):
    actor: str = "system:rollback-drill"
    prompts_dir: str = ""  # the gateway's prompts directory: the drill checks templates resolve there
    gateway_config: str = ""  # the gateway's YAML config: the drill loads targets the way it would


@dg.op(description="Rehearse the rollback of every name and environment with a production version; "
                   "each result is a rollback.drill event in the registry.")
def rollback_drills(context: dg.OpExecutionContext, config: RollbackDrillConfig, registry: RegistryResource):
    from llmreg.drill_checks import gateway_checks

    gateway = None
    if config.gateway_config:
        from llmreg.serving.config import GatewayConfig

        gateway = GatewayConfig.from_file(config.gateway_config)
    reg = registry.open()  # closed by the resource's teardown
    results = reg.drill_all(actor=config.actor,
                            checks=gateway_checks(reg, prompts_dir=config.prompts_dir or None, config=gateway))
    rows = ["| name | env | rollback | result | failed checks |", "|---|---|---|---|---|"]
    for result in results:
        (context.log.info if result.ok else context.log.error)(result.summary())
        failed = "; ".join(f"{c.name}: {c.detail}" for c in result.checks if not c.ok) or ("" if result.ok else result.reason)
        rows.append(f"| {result.name} | {result.env} | {result.current} -> {result.target} | "
                    f"{'ok' if result.ok else 'FAILED'} | {failed.replace('|', '/')} |")
    failures = [r for r in results if not r.ok]
    metadata = {"drills": len(results), "failed": len(failures), "results": dg.MetadataValue.md("\n".join(rows))}
    if failures:
        raise dg.Failure(description=f"{len(failures)} of {len(results)} rollback drill(s) failed: "
                                     + " | ".join(r.summary() for r in failures), metadata=metadata)
    context.add_output_metadata(metadata)
    return [r.to_event_data() for r in results]


@dg.job(executor_def=dg.in_process_executor,
        description="Rollback drills for every production version (recorded as rollback.drill events).")
def rollback_drill_job():
    rollback_drills()


def build_rollback_drill_schedule(cron: str = DRILL_CRON) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name="rollback_drill_schedule", job=rollback_drill_job, cron_schedule=cron, execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description="Weekly rollback drill of every production version (llmreg drill --all).",
    )


rollback_drill_schedule = build_rollback_drill_schedule()
