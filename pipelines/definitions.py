"""The Dagster code location: `dagster dev -w workspace.yaml`, `dg dev`, or `make ui`."""
from __future__ import annotations

import dagster as dg

from assets import datasets, evaluation, models, provider_evaluation, registry_entry
from pipelines.jobs import full_chain_job, promote_to_staging_job
from pipelines.providers import provider_evaluation_job, provider_resources, provider_snapshot_sensor
from pipelines.resources import default_resources
from pipelines.schedules import schedules
from pipelines.sensors import promote_on_eval_sensor

defs = dg.Definitions(
    assets=dg.load_assets_from_modules([datasets, models, evaluation, registry_entry, provider_evaluation]),
    asset_checks=dg.load_asset_checks_from_modules([evaluation]),
    jobs=[full_chain_job, promote_to_staging_job, provider_evaluation_job],
    sensors=[promote_on_eval_sensor, provider_snapshot_sensor],
    schedules=schedules,
    resources={**default_resources(), **provider_resources()},
    executor=dg.in_process_executor,
)
