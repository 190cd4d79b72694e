"""Training: the base model (built here or pinned from a hub/local path) and the LoRA adapter."""

import dagster as dg

from assets.config import ParamsConfig
from assets.resources import ProjectResource
from training.base_model import base_model_step
from training.lora import lora_step

GROUP = "training"


@dg.asset(group_name=GROUP, kinds={"pytorch", "transformers"}, deps=["train_tickets"], code_version="base-model-2",
          description="Small Llama-architecture causal LM (embedded default) pinned by SHA-256.")
def base_model(context: dg.AssetExecutionContext, config: ParamsConfig,
               project: ProjectResource) -> dg.MaterializeResult:
    params = config.to_params(project.params_file)
    result = base_model_step(params, project.root_path)
    m = result.metrics
    return dg.MaterializeResult(data_version=dg.DataVersion(result.sha256), metadata={
        "path": params.base_model.output_dir,
        "source": result.source,
        "name": result.name,
        "sha256": result.sha256,
        "parameters": result.parameters,
        "pretrain_steps": m.get("pretrain_steps"),
        "pretrain_final_loss": m.get("pretrain_final_loss"),
        "seed": params.base_model.seed,
        "aten_cpu_capability": m["environment"]["dispatch"]["aten_cpu_capability"],
        "seconds": m["seconds"],
    })


@dg.asset(group_name=GROUP, kinds={"pytorch", "peft"}, deps=["base_model", "train_tickets"], code_version="lora-2",
          description="PEFT LoRA adapter fine-tuned on the train split (seeded, pinned kernels: same bytes on "
                      "every x86-64 CPU).")
def lora_adapter(context: dg.AssetExecutionContext, config: ParamsConfig,
                 project: ProjectResource) -> dg.MaterializeResult:
    params = config.to_params(project.params_file)
    base_event = context.instance.get_latest_materialization_event(dg.AssetKey("base_model"))
    base_meta = base_event.asset_materialization.metadata if base_event and base_event.asset_materialization else {}
    result = lora_step(params, project.root_path)
    lora, m = params.lora, result.metrics
    return dg.MaterializeResult(data_version=dg.DataVersion(result.sha256), metadata={
        "path": lora.output_dir,
        "sha256": result.sha256,
        "base_model": result.base_model,
        "base_model_sha256": base_meta["sha256"].value if "sha256" in base_meta else None,
        "lora_r": lora.r,
        "lora_alpha": lora.alpha,
        "lora_dropout": lora.dropout,
        "target_modules": dg.MetadataValue.json(list(lora.target_modules)),
        "learning_rate": lora.lr,
        "steps": result.steps,
        "seed": lora.seed,
        "final_loss": result.final_loss,
        "trainable_parameters": result.trainable_parameters,
        "environment": dg.MetadataValue.json(m["environment"]),
        "seconds": m["seconds"],
    })
