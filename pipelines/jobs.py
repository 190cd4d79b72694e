"""Jobs: the whole chain, and the staging promotion the sensor requests."""

from pathlib import Path

import dagster as dg

from assets.config import params_run_config
from assets.resources import RegistryResource

CHAIN_GROUPS = ("datasets", "training", "evaluation", "registry")


def full_chain_job(params_file: Path):
    """The chain with params.yaml as its default run config (read when the location loads).

    The multiprocess executor costs ~2 s per step on a 2-core machine, and the chain is
    sequential; each step pins its own kernels in a child process (training/kernels.py).
    """
    return dg.define_asset_job(
        "full_chain_job",
        selection=dg.AssetSelection.groups(*CHAIN_GROUPS),
        executor_def=dg.in_process_executor,
        config=params_run_config(params_file),
        description="Datasets -> base model -> LoRA adapter -> eval suite -> registry entry.",
    )


class PromotionConfig(dg.Config):
    name: str
    version: str
    env: str = "default"
    eval_run: str


@dg.op(description="Promote exactly this version to staging, with the eval run as evidence.")
def staging_promotion(context: dg.OpExecutionContext, config: PromotionConfig,
                      registry: RegistryResource) -> None:
    reg = registry.open()
    stage = reg.status(config.name).of(config.version, config.env)
    if stage != "development":  # a repeated request after the version moved on: nothing to do
        context.log.info(f"{config.name}@{config.version} is already {stage} in {config.env}; nothing to promote")
        return
    event = reg.promote(
        config.name, config.version, "staging", config.env,
        actor="system:promote-on-eval",
        evidence={"eval_run": config.eval_run, "dagster_run": context.run_id},
    )
    context.log.info(f"{config.name}@{config.version} -> staging ({config.env}), event #{event.seq}")


@dg.job(executor_def=dg.in_process_executor,
        description="Promote one evaluated registry version to staging (requested by promote_on_eval_sensor).")
def promote_to_staging_job():
    staging_promotion()
