"""The Dagster code location: `dagster dev -w workspace.yaml`, `dg dev`, or `make ui`.

Assets, checks, resources and partitions load from the defs folder (`assets/`, named in
pyproject.toml `[tool.dg.project] defs_module`); jobs, sensors and schedules join here.
Everything that depends on the deployment (params.yaml, cron, which variables are set) is
read when the location loads, inside `defs()`, never at import.
"""
from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from pipelines.audit import registry_audit_sensor
from pipelines.audit_checkpoints import CHECKPOINT_CRON, audit_checkpoint_job, build_audit_checkpoint_schedule
from pipelines.jobs import full_chain_job, promote_to_staging_job
from pipelines.ops_schedules import (
    DRIFT_CRON,
    DRILL_CRON,
    build_drift_schedule,
    build_rollback_drill_schedule,
    drift_check_job,
    rollback_drill_job,
)
from pipelines.providers import (
    build_provider_snapshot_sensor,
    build_reevaluate_providers_schedule,
    provider_evaluation_job,
    provider_settings,
)
from pipelines.sensors import promote_on_eval_sensor

HERE = Path(__file__).resolve().parent


@dg.definitions
def defs() -> dg.Definitions:
    root = Path(os.environ.get("LLMREG_PROJECT_ROOT", HERE.parent)).resolve()
    providers = provider_settings(os.environ, root)
    return dg.Definitions.merge(
        dg.load_from_defs_folder(path_within_project=HERE),
        dg.Definitions(
            jobs=[full_chain_job(root / "params.yaml"), promote_to_staging_job, provider_evaluation_job,
                  rollback_drill_job, drift_check_job, audit_checkpoint_job],
            sensors=[promote_on_eval_sensor, registry_audit_sensor, build_provider_snapshot_sensor(providers)],
            schedules=[build_reevaluate_providers_schedule(providers),
                       build_rollback_drill_schedule(os.environ.get("LLMREG_DRILL_CRON") or DRILL_CRON),
                       build_drift_schedule(os.environ.get("LLMREG_DRIFT_CRON") or DRIFT_CRON),
                       build_audit_checkpoint_schedule(os.environ.get("LLMREG_CHECKPOINT_CRON") or CHECKPOINT_CRON)],
            executor=dg.in_process_executor,
        ),
    )
