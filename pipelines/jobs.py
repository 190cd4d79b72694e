"""Jobs: the whole chain, and the staging promotion the sensor requests."""

import dagster as dg

from pipelines.resources import RegistryResource

# The multiprocess executor costs ~2 s per step on a 2-core machine; the chain is sequential.
full_chain_job = dg.define_asset_job(
    "full_chain_job",
    selection=dg.AssetSelection.groups("datasets", "training", "evaluation", "registry"),
    executor_def=dg.in_process_executor,
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
