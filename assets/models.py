"""Training: the base model (built here or pinned from a hub/local path) and the LoRA adapter."""

import dagster as dg

from assets.step_runner import read_json, run_step
from pipelines.resources import ProjectResource

GROUP = "training"


@dg.asset(group_name=GROUP, kinds={"pytorch", "transformers"}, deps=["train_tickets"],
          description="Small Llama-architecture causal LM (embedded default) pinned by SHA-256.")
def base_model(context: dg.AssetExecutionContext, project: ProjectResource) -> dg.MaterializeResult:
    from training import base_model as step
    from training.params import load_base_model_params

    seconds = run_step(context, project.root_path, "training.base_model", step.main)
    p = load_base_model_params(project.params_file)
    metrics = read_json(project.path(p.metrics_path))
    return dg.MaterializeResult(metadata={
        "path": p.output_dir,
        "source": metrics["source"],
        "name": metrics["name"],
        "sha256": metrics["sha256"],
        "parameters": metrics["parameters"],
        "pretrain_final_loss": metrics.get("pretrain_final_loss"),
        "seconds": round(seconds, 2),
    })


@dg.asset(group_name=GROUP, kinds={"pytorch", "peft"}, deps=["base_model", "train_tickets"],
          description="PEFT LoRA adapter fine-tuned on the train split (seeded, deterministic on CPU).")
def lora_adapter(context: dg.AssetExecutionContext, project: ProjectResource) -> dg.MaterializeResult:
    from training import lora as step
    from training.params import load_lora_params

    seconds = run_step(context, project.root_path, "training.lora", step.main)
    p = load_lora_params(project.params_file)
    metrics = read_json(project.path(p.metrics_path))
    return dg.MaterializeResult(metadata={
        "path": p.output_dir,
        "sha256": metrics["adapter_sha256"],
        "base_model": metrics["base_model"],
        "steps": metrics["steps"],
        "final_loss": metrics["final_loss"],
        "trainable_parameters": metrics["trainable_parameters"],
        "seconds": round(seconds, 2),
    })
