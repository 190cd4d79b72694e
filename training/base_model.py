"""The base model step: build-and-pretrain the embedded small Llama, or take a pinned one.

Sources (params.yaml `base_model.source`):
- embedded: a word-level tokenizer counted from the train split and a small
  Llama-architecture causal LM, pretrained briefly on the rendered prompts *without*
  labels (each ends in [EOS]). It learns the ticket language and the prompt format but
  not the label mapping, so its label accuracy is ~0% and fine-tuning has something to show.
- hf: `repo_id` at `revision`, which must be a 40-hex commit sha (a branch or tag can
  move under a release).
- path: a local directory with a model and tokenizer saved by `save_pretrained`.

Every source ends the same way: the label-token check, then `save_pretrained` of model
and tokenizer into `output_dir`, and a metrics file with the directory's checksum.

    python -m training.base_model [--params params.yaml] [--train PATH] [--out DIR]
"""
from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmreg.registry.prompts import PromptError, load_prompt
from training.checksums import directory_sha256
from training.corpus import LABELS
from training.errors import BaseModelSourceError, TrainingError
from training.kernels import run_pinned
from training.outputs import read_parquet, replaced_directory, write_json

TYPE_CHECKING = False
# params.py needs pydantic; the GPU check (training/gpu_check.py) runs these steps with stock
# CUDA-image libraries only, so the models are imported for type checking and by main().
if TYPE_CHECKING:
    from training.params import BaseModelParams, Params

_COMMIT_SHA = re.compile(r"[0-9a-f]{40}")
_REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?")


def validate_hf_source(repo_id: str | None, revision: str | None) -> tuple[str, str]:
    """Return (repo_id, revision) if the hub reference is pinned; raise naming the field otherwise."""
    if not repo_id:
        raise BaseModelSourceError("base_model.repo_id is required when source is hf, e.g. 'meta-llama/Llama-3.2-1B'")
    if not _REPO_ID.fullmatch(repo_id):
        raise BaseModelSourceError(f"base_model.repo_id {repo_id!r} is not a hub repo id; write it as 'owner/name'")
    if not revision:
        raise BaseModelSourceError(
            "base_model.revision is required when source is hf: pin the 40-hex commit sha of the snapshot"
        )
    if not _COMMIT_SHA.fullmatch(revision):
        raise BaseModelSourceError(
            f"base_model.revision {revision!r} is not a commit sha: branch and tag names like 'main' can move; "
            "pin the 40-character lowercase hex commit id shown on the model's commit history"
        )
    return repo_id, revision


def logical_base_name(params: BaseModelParams) -> str:
    """The machine-independent name recorded in configs that point at the base model."""
    return params.repo_id if params.source == "hf" and params.repo_id else params.name


def build_embedded_base(train_texts: Sequence[str], template, params: BaseModelParams):
    """A fresh tokenizer and randomly initialised Llama sized by `params` (no training yet)."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    from training.tokenizer import build_word_tokenizer

    tokenizer = build_word_tokenizer(
        train_texts, template, LABELS,
        min_frequency=params.min_word_frequency,
        model_max_length=params.max_position_embeddings,
    )
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=params.hidden_size,
        intermediate_size=params.intermediate_size,
        num_hidden_layers=params.num_layers,
        num_attention_heads=params.num_heads,
        num_key_value_heads=params.num_heads,
        head_dim=params.hidden_size // params.num_heads,
        max_position_embeddings=params.max_position_embeddings,
        tie_word_embeddings=False,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(params.seed)
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        do_sample=False,
    )
    return model, tokenizer


def pretrain(model, tokenizer, prompts: Sequence[str], params: BaseModelParams):
    """Causal-LM pretraining on `prompts` + [EOS]: format and vocabulary, never labels."""
    from training.device import training_device
    from training.loop import pad_right, train_steps

    sequences = [ids + [tokenizer.eos_token_id] for ids in tokenizer(list(prompts))["input_ids"]]
    too_long = max(len(s) for s in sequences)
    if too_long > params.max_position_embeddings:
        raise TrainingError(
            f"base_model.max_position_embeddings ({params.max_position_embeddings}) is shorter than the "
            f"longest rendered prompt ({too_long} tokens); raise it"
        )
    data = pad_right(sequences, sequences, tokenizer.pad_token_id)
    return train_steps(
        model, data,
        steps=params.pretrain_steps,
        batch_size=params.pretrain_batch_size,
        lr=params.pretrain_lr,
        warmup_steps=min(10, params.pretrain_steps // 10),
        seed=params.seed,
        device=training_device(),
    )


def load_pretrained_source(params: BaseModelParams):
    """Model and tokenizer for source hf or path (the code path real users take)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if params.source == "hf":
        repo_id, revision = validate_hf_source(params.repo_id, params.revision)
        kwargs: dict[str, Any] = {"revision": revision}
        where: str = repo_id
    else:
        if not params.path:
            raise BaseModelSourceError("base_model.path is required when source is path: the directory to load")
        if not Path(params.path).is_dir():
            raise BaseModelSourceError(f"base_model.path {params.path!r} is not a directory; point it at a saved model")
        kwargs, where = {}, params.path
    try:
        tokenizer = AutoTokenizer.from_pretrained(where, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(where, dtype="auto", **kwargs)
    except (OSError, ValueError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BaseModelSourceError(
            f"base_model: cannot load {where}{'@' + kwargs['revision'] if kwargs else ''} ({first_line}); "
            "check base_model.repo_id/revision or base_model.path, and that the hub is reachable"
        ) from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token  # decoder-only tokenizers often ship without one
    tokenizer.padding_side = "left"
    return model, tokenizer


def build_base_model(params: BaseModelParams, train_path: str | Path, prompt_path: str | Path,
                     output_dir: str | Path) -> dict[str, Any]:
    """Produce `output_dir` (model + tokenizer) from the configured source; returns the metrics."""
    from training.determinism import deterministic_run
    from training.tokenizer import label_token_ids

    started = time.perf_counter()
    template = load_prompt(prompt_path)
    metrics: dict[str, Any] = {"source": params.source, "name": logical_base_name(params)}
    if params.source == "hf":
        validate_hf_source(params.repo_id, params.revision)  # fail before any download or training
        metrics["revision"] = params.revision
    with deterministic_run(params.seed, params.threads):
        if params.source == "embedded":
            if not Path(train_path).exists():
                raise TrainingError(f"base model: train split {train_path} does not exist; run `python -m training.splits` first")
            train_texts = read_parquet(train_path)["text"].tolist()
            model, tokenizer = build_embedded_base(train_texts, template, params)
            result = pretrain(model, tokenizer, [template.render(text=t) for t in train_texts], params)
            metrics.update(pretrain_steps=result.steps, pretrain_final_loss=round(result.final_loss, 6),
                           pretrain_seconds=round(result.seconds, 3))
        else:
            model, tokenizer = load_pretrained_source(params)
        label_token_ids(tokenizer, LABELS, template.render(text="sample ticket text"))
        model.config.name_or_path = logical_base_name(params)
        with replaced_directory(output_dir) as staging:
            model.save_pretrained(staging, safe_serialization=True)
            tokenizer.save_pretrained(staging)
    metrics.update(
        sha256=directory_sha256(output_dir),
        parameters=sum(p.numel() for p in model.parameters()),
        vocab_size=len(tokenizer),
        seconds=round(time.perf_counter() - started, 3),
    )
    return metrics


@dataclass(frozen=True)
class BaseModelResult:
    output_dir: Path
    sha256: str
    source: str
    name: str
    parameters: int
    metrics: dict[str, Any]  # everything written to base_model.metrics_path, environment included


def _base_model_in_child(params: Params, root: Path) -> BaseModelResult:
    from training.determinism import deterministic_run
    from training.environment import environment_record

    p = params.base_model
    metrics = build_base_model(p, root / params.data.train_path, root / params.data.prompt_path, root / p.output_dir)
    with deterministic_run(p.seed, p.threads):  # recorded under the settings the step ran with
        metrics["environment"] = environment_record()
    write_json(metrics, root / p.metrics_path)
    return BaseModelResult(root / p.output_dir, metrics["sha256"], metrics["source"], metrics["name"],
                           metrics["parameters"], metrics)


def base_model_step(params: Params, root: Path = Path(".")) -> BaseModelResult:
    """Build the base model into base_model.output_dir under `root` with pinned kernels."""
    return run_pinned(_base_model_in_child, params, Path(root).resolve())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build (embedded) or fetch (hf/path) the base model into models/base.")
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    from training.params import load_params

    try:
        result = base_model_step(load_params(args.params))
    except (TrainingError, PromptError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"base model ({result.source}) saved to {result.output_dir}, sha256 {result.sha256}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
