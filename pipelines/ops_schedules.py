"""Operations on a schedule: `rollback_drill_schedule` (weekly, Monday 06:00 UTC, or
$LLMREG_DRILL_CRON) runs `rollback_drill_job`, which rehearses the rollback of every
(name, env) holding a production version: `Registry.drill_all` with the gateway's checks
(llmreg/drill_checks.py). Each drill is a `rollback.drill` event in the registry; the run
shows a table of them and fails when one failed, so the Dagster UI shows it red (and a
webhook subscribed to rollback.drill hears about it from the registry's outbox).

The drill's actor needs `rollback` in roles.yaml (e.g. `system:rollback-drill: [slo-guard]`).

`drift_schedule` (daily, 05:00 UTC, or $LLMREG_DRIFT_CRON) runs `drift_check_job`: every
production version judged against what certified it (`Registry.drift_check` with
llmreg/drift_checks.py: its suite re-run where providers.yaml serves it, the gateway's call
log over the drift rule's window). Each flag is a signed `version.flagged` event
(system:drift-monitor, a default role); the run fails when one is flagged. Nothing is rolled
back unless the name's drift rule says `action: rollback`.

The code location (pipelines/definitions.py) builds the schedules with the cron it reads
when it loads (`build_rollback_drill_schedule`, `build_drift_schedule`); nothing here reads
the environment at import.
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


def stopped_schedule(name: str, job: dg.JobDefinition, cron: str, description: str) -> dg.ScheduleDefinition:
    """A UTC schedule that ships stopped: a team turns on what it wants in the UI or with
    `dagster schedule start`, so loading the location never starts writing to a registry."""
    return dg.ScheduleDefinition(name=name, job=job, cron_schedule=cron, execution_timezone="UTC",
                                 default_status=dg.DefaultScheduleStatus.STOPPED, description=description)


def build_rollback_drill_schedule(cron: str = DRILL_CRON) -> dg.ScheduleDefinition:
    return stopped_schedule("rollback_drill_schedule", rollback_drill_job, cron,
                            "Weekly rollback drill of every production version (llmreg drill --all).")


rollback_drill_schedule = build_rollback_drill_schedule()


DRIFT_CRON = "0 5 * * *"  # daily 05:00 UTC; LLMREG_DRIFT_CRON overrides it when the location loads


class DriftCheckConfig(dg.Config):
    actor: str = "system:drift-monitor"
    providers_config: str = ""  # providers.yaml: re-run the pinned suite of versions its providers serve
    project_root: str = "."  # where the suites' paths resolve


@dg.op(description="Judge every production version for drift (suite re-run, gateway call log); each flag is a "
                   "version.flagged event in the registry.")
def drift_checks(context: dg.OpExecutionContext, config: DriftCheckConfig, registry: RegistryResource):
    from llmreg.drift_checks import observer

    providers = None
    if config.providers_config:
        from evals.providers.config import load_providers

        providers = load_providers(config.providers_config)
    reg = registry.open()  # closed by the resource's teardown
    report = reg.drift_check(observer(reg, providers=providers, root=config.project_root), actor=config.actor)
    rows = ["| name | env | version | result | reasons |", "|---|---|---|---|---|"]
    for finding in report.findings:
        flagged = finding.verdict.flagged
        (context.log.error if flagged else context.log.info)(finding.summary())
        reasons = "; ".join(finding.verdict.reasons or finding.verdict.checked).replace("|", "/")
        rows.append(f"| {finding.name} | {finding.env} | {finding.version} | "
                    f"{'FLAGGED (' + finding.verdict.action + ')' if flagged else 'ok'} | {reasons} |")
    metadata = {"checked": len(report.findings), "flagged": len(report.flagged),
                "results": dg.MetadataValue.md("\n".join(rows))}
    if report.flagged:
        raise dg.Failure(description=f"{len(report.flagged)} of {len(report.findings)} production version(s) "
                                     "flagged for drift: " + " | ".join(f.summary() for f in report.flagged),
                         metadata=metadata)
    context.add_output_metadata(metadata)
    return report.to_dict()


@dg.job(executor_def=dg.in_process_executor,
        description="Drift check of every production version (flags recorded as version.flagged events).")
def drift_check_job():
    drift_checks()


def build_drift_schedule(cron: str = DRIFT_CRON) -> dg.ScheduleDefinition:
    return stopped_schedule("drift_schedule", drift_check_job, cron,
                            "Daily drift check of every production version (llmreg drift check).")


drift_schedule = build_drift_schedule()
