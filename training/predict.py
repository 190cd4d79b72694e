"""Quick predictions: load base (+ adapter) and greedily generate one label token per prompt.

For tests and spot checks; the evals package owns the real runners.

    python -m training.predict [--params params.yaml] [--eval PATH] [--no-adapter]
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from llmreg.registry.prompts import PromptError, load_prompt
from training.errors import TrainingError
from training.outputs import read_parquet


def load_model(base_dir: str | Path, adapter_dir: str | Path | None = None):
    """(model, tokenizer) in eval mode on CPU; with `adapter_dir`, the LoRA adapter is applied."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    for what, path in (("base model", base_dir), ("adapter", adapter_dir)):
        if path is not None and not Path(path).is_dir():
            raise TrainingError(f"predict: {what} directory {path} does not exist")
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    tokenizer.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    if adapter_dir is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter_dir))
    model.eval()
    return model, tokenizer


def predict_labels(model, tokenizer, prompts: Sequence[str], batch_size: int = 64) -> list[str]:
    """Greedy one-token continuation of each prompt, decoded and stripped ("" for a special token)."""
    import torch

    if batch_size <= 0:
        raise TrainingError(f"predict: batch_size must be positive, got {batch_size}")
    out: list[str] = []
    with torch.inference_mode():
        for start in range(0, len(prompts), batch_size):
            enc = tokenizer(list(prompts[start:start + batch_size]), return_tensors="pt",
                            padding=True, padding_side="left").to(model.device)
            generated = model.generate(
                **enc,
                max_new_tokens=1,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
            )
            new_tokens = generated[:, enc["input_ids"].shape[1]:]
            out.extend(tokenizer.decode(row, skip_special_tokens=True).strip() for row in new_tokens)
    return out


def accuracy(predictions: Sequence[str], labels: Sequence[str]) -> float:
    if len(predictions) != len(labels) or not labels:
        raise TrainingError("predict: predictions and labels must be non-empty and of equal length")
    return sum(p == y for p, y in zip(predictions, labels)) / len(labels)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Exact-match label accuracy of base and tuned model on the eval split.")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--eval", help="eval split (default: data.eval_path)")
    parser.add_argument("--base", help="base model directory (default: base_model.output_dir)")
    parser.add_argument("--adapter", help="adapter directory (default: lora.output_dir)")
    parser.add_argument("--no-adapter", action="store_true", help="score the base model only")
    args = parser.parse_args(argv)
    from training.params import (
        load_base_model_params,
        load_data_params,
        load_lora_params,
    )

    try:
        data = load_data_params(args.params)
        base_dir = args.base or load_base_model_params(args.params).output_dir
        eval_path = Path(args.eval or data.eval_path)
        if not eval_path.exists():
            raise TrainingError(f"predict: eval split {eval_path} does not exist; run `python -m training.splits` first")
        frame = read_parquet(eval_path)
        template = load_prompt(data.prompt_path)
        prompts = [template.render(text=t) for t in frame["text"]]
        runs = [("base", None)]
        if not args.no_adapter:
            runs.append(("tuned", args.adapter or load_lora_params(args.params).output_dir))
        for name, adapter in runs:
            model, tokenizer = load_model(base_dir, adapter)
            acc = accuracy(predict_labels(model, tokenizer, prompts), frame["label"].tolist())
            print(f"{name}: exact-match accuracy {acc:.4f} on {len(prompts)} eval tickets")
    except (TrainingError, PromptError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
