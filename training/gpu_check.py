"""`make gpu-check`: base model build, LoRA fine-tuning and eval on CUDA in bf16, timed.

Uses only what a stock CUDA image holds (torch, transformers, peft, accelerate, tokenizers,
safetensors, pandas, pyarrow, pyyaml) plus this checkout's training code: no Dagster, no
DVC, no registry database, no pydantic. Reads params.yaml's values as they are; prints wall
time, peak GPU memory and accuracy for each step beside the CPU run's figures from the last
`make demo` (metrics/*.json), when present. Exits 2 with one line when there is no GPU.

    python -m training.gpu_check [--params params.yaml] [--out /tmp/gpu-check]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

# cuBLAS reads this when it starts: deterministic GEMMs for use_deterministic_algorithms.
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def _section(raw: dict, name: str) -> SimpleNamespace:
    values = dict(raw.get(name) or {})
    if "target_modules" in values:
        values["target_modules"] = tuple(values["target_modules"])
    return SimpleNamespace(**values)


def _cpu_figures(root: Path) -> dict[str, object]:
    """The CPU run's figures from the last demo/dvc repro, if its metrics files are here."""
    figures: dict[str, object] = {}
    for name, keys in (("base_model.json", ("seconds",)), ("train.json", ("seconds", "final_loss")),
                       ("eval.json", ())):
        path = root / "metrics" / name
        if not path.is_file():
            continue
        data = json.loads(path.read_text())
        if name == "eval.json":
            figures["accuracy"] = data.get("tuned", {}).get("accuracy")
        else:
            for key in keys:
                figures[f"{name.split('.')[0]}_{key}"] = data.get(key)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train and evaluate the demo chain on CUDA in bf16, timed.")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out", default=None, help="where to write models (default: a temporary directory)")
    args = parser.parse_args(argv)

    import torch
    import yaml

    if not torch.cuda.is_available():
        print("gpu-check: no CUDA device visible to torch (torch.cuda.is_available() is False); "
              "run it on a machine with an NVIDIA GPU and a CUDA build of torch", file=sys.stderr)
        return 2
    from llmreg.registry.prompts import load_prompt
    from training.base_model import build_embedded_base, pretrain
    from training.corpus import build_corpus, split_corpus
    from training.determinism import deterministic_run
    from training.lora import finetune_lora
    from training.predict import accuracy, load_model, predict_labels

    root = Path.cwd()
    raw = yaml.safe_load(Path(args.params).read_text(encoding="utf-8")) or {}
    data, base, lora = _section(raw, "data"), _section(raw, "base_model"), _section(raw, "lora")
    out = Path(args.out or tempfile.mkdtemp(prefix="gpu-check-"))
    gpu = torch.cuda.get_device_name(0)
    figures: dict[str, object] = {"gpu": gpu, "torch": torch.__version__, "cuda": torch.version.cuda,
                                  "dtype": "bfloat16"}
    template = load_prompt(data.prompt_path)
    started = time.perf_counter()

    train_df, eval_df = split_corpus(build_corpus(data.n_tickets, data.seed), data.eval_fraction, data.seed)
    texts = train_df["text"].tolist()

    torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    with deterministic_run(base.seed, base.threads):
        model, tokenizer = build_embedded_base(texts, template, base)
        result = pretrain(model, tokenizer, [template.render(text=x) for x in texts], base)
        model.to("cpu")
        model.save_pretrained(out / "base", safe_serialization=True)
        tokenizer.save_pretrained(out / "base")
    figures["base_model_seconds"] = round(time.perf_counter() - t, 2)
    figures["base_model_final_loss"] = round(result.final_loss, 4)
    figures["base_model_peak_gpu_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)

    torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    metrics = finetune_lora(out / "base", texts, train_df["label"].tolist(), template, lora, out / "adapter",
                            base_name=base.name)
    figures["lora_seconds"] = round(time.perf_counter() - t, 2)
    figures["lora_final_loss"] = metrics["final_loss"]
    figures["lora_peak_gpu_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)

    torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    prompts = [template.render(text=x) for x in eval_df["text"]]
    tuned, tok = load_model(out / "base", out / "adapter")
    tuned.to("cuda", dtype=torch.bfloat16)
    figures["accuracy"] = round(accuracy(predict_labels(tuned, tok, prompts), eval_df["label"].tolist()), 4)
    figures["eval_seconds"] = round(time.perf_counter() - t, 2)
    figures["eval_peak_gpu_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    figures["total_seconds"] = round(time.perf_counter() - started, 2)

    cpu = _cpu_figures(root)
    print(f"gpu-check on {gpu} (torch {torch.__version__}, CUDA {torch.version.cuda}, bf16); models in {out}")
    print(f"  {'figure':<26} {'GPU':>12} {'CPU (last demo)':>16}")
    for key, cpu_key in (("base_model_seconds", "base_model_seconds"), ("lora_seconds", "train_seconds"),
                         ("lora_final_loss", "train_final_loss"), ("accuracy", "accuracy"),
                         ("eval_seconds", None), ("total_seconds", None), ("base_model_peak_gpu_mib", None),
                         ("lora_peak_gpu_mib", None), ("eval_peak_gpu_mib", None)):
        print(f"  {key:<26} {figures[key]!s:>12} {cpu.get(cpu_key, '-') if cpu_key else '-'!s:>16}")
    print(json.dumps({"gpu": figures, "cpu": cpu}, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
