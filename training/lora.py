"""LoRA fine-tuning of the base model on the triage task: the loss is on the label token only.

Each example is the rendered prompt followed by " " + label; prompt positions are masked
with -100, so the adapter learns the mapping ticket -> label and nothing else. Training is
bit-for-bit reproducible on CPU (seeded, deterministic kernels, one thread, fixed data
order), and the saved adapter directory carries no absolute path or timestamp, so two runs
in different checkouts give byte-identical files.

    python -m training.lora [--params params.yaml] [--base DIR] [--train PATH] [--out DIR]
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmreg.registry.prompts import PromptError, PromptTemplate, load_prompt
from training.base_model import logical_base_name
from training.corpus import LABELS
from training.errors import TrainingError
from training.kernels import run_pinned
from training.outputs import read_parquet, replaced_directory, write_json, write_text

TYPE_CHECKING = False
if TYPE_CHECKING:  # params.py needs pydantic; training/gpu_check.py runs without it
    from training.params import LoraParams, Params


def encode_label_examples(tokenizer, template: PromptTemplate, texts: Sequence[str], labels: Sequence[str]):
    """Token ids of prompt + label, with loss only on the label token."""
    from training.loop import pad_right
    from training.tokenizer import label_token_ids

    label_ids = label_token_ids(tokenizer, LABELS, template.render(text=texts[0]))
    unknown = sorted(set(labels) - set(label_ids))
    if unknown:
        raise TrainingError(f"lora: train split has label(s) {unknown} outside {list(LABELS)}; rebuild the corpus")
    prompts = tokenizer([template.render(text=t) for t in texts])["input_ids"]
    sequences = [ids + [label_ids[label]] for ids, label in zip(prompts, labels, strict=True)]
    targets = [[-100] * len(ids) + [label_ids[label]] for ids, label in zip(prompts, labels, strict=True)]
    limit = getattr(tokenizer, "model_max_length", None)
    longest = max(len(s) for s in sequences)
    if limit and longest > limit:
        raise TrainingError(f"lora: an example is {longest} tokens, longer than the model's {limit}; shorten the tickets")
    return pad_right(sequences, targets, tokenizer.pad_token_id)


def finetune_lora(
    base_dir: str | Path,
    train_texts: Sequence[str],
    train_labels: Sequence[str],
    template: PromptTemplate,
    params: LoraParams,
    output_dir: str | Path,
    base_name: str,
    base_revision: str | None = None,
) -> dict[str, Any]:
    """Train a LoRA adapter on `base_dir` and save it to `output_dir`; returns the train metrics."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from training.checksums import directory_sha256
    from training.determinism import deterministic_run
    from training.device import training_device
    from training.loop import train_steps

    if not Path(base_dir).is_dir():
        raise TrainingError(f"lora: base model directory {base_dir} does not exist; run `python -m training.base_model` first")
    if not train_texts:
        raise TrainingError("lora: the train split is empty; rebuild it with `python -m training.splits`")
    with deterministic_run(params.seed, params.threads):
        tokenizer = AutoTokenizer.from_pretrained(base_dir)
        data = encode_label_examples(tokenizer, template, train_texts, train_labels)
        device = training_device()
        # bf16 weights on a GPU (autocast computes in bf16 anyway); float32 on CPU. peft keeps
        # the LoRA matrices in float32 either way, so the optimiser state is full precision.
        model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=device.dtype)
        # peft copies these into adapter_config.json and README.md; the loaded value would be
        # this machine's absolute path, which breaks byte-identical adapters across checkouts.
        model.config.name_or_path = base_name
        model.name_or_path = base_name
        config = LoraConfig(
            r=params.r,
            lora_alpha=params.alpha,
            lora_dropout=params.dropout,
            target_modules=list(params.target_modules),
            bias="none",
            task_type="CAUSAL_LM",
            base_model_name_or_path=base_name,
            revision=base_revision,
        )
        torch.manual_seed(params.seed)  # LoRA A matrices are drawn at wrap time
        model = get_peft_model(model, config)
        # peft keeps target_modules as a set and writes it in hash order, which changes with
        # PYTHONHASHSEED; a sorted list makes adapter_config.json stable across processes.
        model.peft_config["default"].target_modules = sorted(model.peft_config["default"].target_modules)
        result = train_steps(
            model, data,
            steps=params.steps,
            batch_size=params.batch_size,
            lr=params.lr,
            warmup_steps=min(params.warmup_steps, params.steps),
            seed=params.seed,
            device=device,
        )
        model.to("cpu")
        with replaced_directory(output_dir) as staging:
            # save_embedding_layers="auto" would look the base name up on the hub; the
            # embeddings are frozen here, so there is nothing to save and no lookup to make.
            model.save_pretrained(staging, safe_serialization=True, save_embedding_layers=False)
    return {
        "steps": result.steps,
        "final_loss": round(result.final_loss, 6),
        "mean_last_10_loss": round(result.mean_last_10_loss, 6),
        "loss_curve": [round(x, 6) for x in result.losses],
        "seconds": round(result.seconds, 3),
        "train_examples": len(train_texts),
        "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "adapter_sha256": directory_sha256(output_dir),
        "base_model": base_name,
    }


@dataclass(frozen=True)
class LoraResult:
    output_dir: Path
    sha256: str
    steps: int
    final_loss: float
    trainable_parameters: int
    base_model: str
    metrics: dict[str, Any]  # everything written to lora.metrics_path, environment included


def _lora_in_child(params: Params, root: Path) -> LoraResult:
    from training.determinism import deterministic_run
    from training.environment import environment_record

    data, base, lora = params.data, params.base_model, params.lora
    train_path = root / data.train_path
    if not train_path.exists():
        raise TrainingError(f"lora: train split {train_path} does not exist; run `python -m training.splits` first")
    train = read_parquet(train_path)
    metrics = finetune_lora(
        root / base.output_dir, train["text"].tolist(), train["label"].tolist(),
        load_prompt(root / data.prompt_path), lora, root / lora.output_dir,
        base_name=logical_base_name(base), base_revision=base.revision if base.source == "hf" else None,
    )
    with deterministic_run(lora.seed, lora.threads):  # recorded under the settings the step ran with
        metrics["environment"] = environment_record()
    write_json(metrics, root / lora.metrics_path)
    write_json({"final_loss": metrics["final_loss"], "mean_last_10_loss": metrics["mean_last_10_loss"]},
               root / lora.scores_path)
    write_text("step,loss\n" + "".join(f"{i + 1},{x}\n" for i, x in enumerate(metrics["loss_curve"])),
               root / lora.loss_plot)
    return LoraResult(root / lora.output_dir, metrics["adapter_sha256"], metrics["steps"], metrics["final_loss"],
                      metrics["trainable_parameters"], metrics["base_model"], metrics)


def lora_step(params: Params, root: Path = Path(".")) -> LoraResult:
    """Fine-tune the adapter into lora.output_dir under `root` with pinned kernels; write its metrics."""
    return run_pinned(_lora_in_child, params, Path(root).resolve())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fine-tune a LoRA adapter on the train split.")
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    from training.params import load_params

    try:
        result = lora_step(load_params(args.params))
    except (TrainingError, PromptError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"adapter saved to {result.output_dir}: {result.steps} steps, final loss {result.final_loss}, "
          f"{result.metrics['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
