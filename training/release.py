"""The release tuple a training run produces, and its registration.

`build_release_spec` reads what the chain wrote (base model, adapter, eval report, prompt,
params) and returns a registry entry spec. `python -m training.release` writes it to
`release/entry.yaml` as the last DVC stage; `register_release` is what the Dagster
`registry_entry` asset calls: it stores the artifacts content-addressed, adds the lineage
that only exists at registration time (git commit, dvc.lock digest, run id) and registers.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from training.errors import TrainingError
from training.params import (DEFAULT_PARAMS_PATH, load_base_model_params, load_data_params,
                             load_lora_params, read_params_file)

# Tuple fields whose change makes a new version; eval and lineage alone only re-evaluate it.
TUPLE_FIELDS = ("model", "prompt_ref", "prompt_sha256", "params", "artifacts", "datasets",
                "training", "tools_ref", "retrieval", "policy_ref")


def _registry_section(params: Mapping[str, Any]) -> dict[str, Any]:
    section = dict(params.get("registry") or {})
    if not section.get("name"):
        raise TrainingError("params: registry.name is missing; set the registry entry name in params.yaml")
    return section


def build_release_spec(params_path: str | Path = DEFAULT_PARAMS_PATH, *,
                       datasets: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The entry spec for the current outputs; paths resolve against the working directory."""
    from llmreg.registry.prompts import load_prompt
    from training.dvc_versioning import dvc_version_id

    raw = read_params_file(params_path)
    reg = _registry_section(raw)
    data, base, lora = load_data_params(params_path), load_base_model_params(params_path), load_lora_params(params_path)
    eval_out = Path((raw.get("eval") or {}).get("out", "metrics/eval.json"))
    for path, stage in ((Path(base.metrics_path), "training.base_model"), (Path(lora.metrics_path), "training.lora"),
                        (eval_out, "evals.run")):
        if not path.is_file():
            raise TrainingError(f"release: {path} does not exist; run `python -m {stage}` (or `dvc repro`) first")
    base_metrics = json.loads(Path(base.metrics_path).read_text())
    train_metrics = json.loads(Path(lora.metrics_path).read_text())
    report = json.loads(eval_out.read_text())["tuned"]
    prompt = load_prompt(data.prompt_path)
    model: dict[str, Any] = {
        "provider": "hf" if base.source == "hf" else "local",
        "id": base_metrics["name"],
        "uri": base.output_dir,
        "sha256": base_metrics["sha256"],
        "architecture": "LlamaForCausalLM",
    }
    if base.source == "hf":
        model["revision"] = base.revision
    if datasets is None:
        datasets = {"train": dvc_version_id(data.train_path), "eval": dvc_version_id(data.eval_path)}
    adapter_size = sum(f.stat().st_size for f in Path(lora.output_dir).rglob("*") if f.is_file())
    return {
        "name": reg["name"],
        "description": "Support-ticket triage: a LoRA-tuned small Llama answering one of five queues.",
        "model": model,
        "framework": "transformers+peft",
        "prompt_ref": prompt.ref,
        "prompt_sha256": prompt.sha256,
        "params": {"max_new_tokens": 1, "temperature": 0.0},
        "artifacts": [{
            "name": "adapter", "uri": lora.output_dir, "sha256": train_metrics["adapter_sha256"],
            "size": adapter_size, "kind": "adapter",
        }],
        "datasets": dict(datasets),
        "training": {
            "seed": lora.seed,
            "lora": {"r": lora.r, "alpha": lora.alpha, "dropout": lora.dropout,
                     "target_modules": list(lora.target_modules), "lr": lora.lr,
                     "steps": lora.steps, "batch_size": lora.batch_size, "threads": lora.threads},
            "base_model": {"source": base.source, "seed": base.seed, "pretrain_steps": base.pretrain_steps,
                           "hidden_size": base.hidden_size, "num_layers": base.num_layers,
                           "num_heads": base.num_heads},
        },
        "eval": {
            "suite": report["suite"]["name"],
            "suite_version": report["suite"]["version"],
            "score": report["accuracy"],
            "segments": report["segment_scores"],
            "run": report["run_id"],
            "time": report["finished_at"],
            "threshold": report["suite"].get("threshold"),
            "metrics": {k: v for k, v in {
                "fairness_gap": report["fairness_gap"],
                "safety_violation_rate": report["safety_violation_rate"],
                "latency_p50_ms": report["latency_ms"].get("p50"),
                "latency_p99_ms": report["latency_ms"].get("p99"),
            }.items() if v is not None},
        },
        "owner": reg.get("owner"),
        "card": {
            "intended_use": "Route English support tickets to one of five queues "
                            "(billing, technical, account, shipping, refund).",
            "limitations": "Trained on a synthetic corpus; unseen phrasing, other languages and "
                           "multi-issue tickets are out of scope.",
            "training_data": f"{data.n_tickets} synthetic tickets (seed {data.seed}), "
                             f"{1 - data.eval_fraction:.0%} train / {data.eval_fraction:.0%} eval, "
                             "stratified by label; segments eu/us/apac.",
            "contact": reg.get("contact"),
        },
    }


def _git(root: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip()


def output_paths(params_path: str | Path = DEFAULT_PARAMS_PATH) -> dict[str, str]:
    """Where the chain writes each registered component, so `llmreg reproduce` can compare."""
    data, base, lora = load_data_params(params_path), load_base_model_params(params_path), load_lora_params(params_path)
    return {"model": base.output_dir, "artifacts.adapter": lora.output_dir,
            "datasets.train": data.train_path, "datasets.eval": data.eval_path}


def collect_lineage(root: str | Path = ".", *, run_id: str, pipeline: str,
                    params_path: str | Path = DEFAULT_PARAMS_PATH) -> dict[str, Any]:
    """What registration adds: the code commit, the dvc.lock digest, the run that produced it."""
    root = Path(root)
    lock = root / "dvc.lock"
    # dvc.lock is the record of the outputs, rewritten by every run; a change there alone
    # does not make the code that produced them differ from the commit.
    status = _git(root, "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)dvc.lock")
    return {
        "git_commit": _git(root, "rev-parse", "HEAD") or "unknown",
        "git_dirty": bool(status) if status is not None else None,
        "dvc_lock_sha256": hashlib.sha256(lock.read_bytes()).hexdigest() if lock.is_file() else None,
        "params_sha256": hashlib.sha256((root / DEFAULT_PARAMS_PATH).read_bytes()).hexdigest()
        if (root / DEFAULT_PARAMS_PATH).is_file() else None,
        "training_run": run_id,
        "pipeline": pipeline,
        "outputs": output_paths(params_path),
    }


def _store_artifacts(registry, spec: dict[str, Any]) -> dict[str, Any]:
    """Copy the model and adapter into the content-addressed store and point the spec there."""
    spec = dict(spec)
    model = dict(spec["model"])
    if model["provider"] == "local":
        ref = registry.artifacts.put(model["uri"], "base-model", kind="weights")
        if ref.sha256 != model["sha256"]:
            raise TrainingError(f"release: base model changed while registering ({model['sha256']} -> {ref.sha256}); rerun the chain")
        model["uri"] = ref.uri
    spec["model"] = model
    artifacts = []
    for art in spec["artifacts"]:
        ref = registry.artifacts.put(art["uri"], art["name"], kind=art["kind"])
        if ref.sha256 != art["sha256"]:
            raise TrainingError(f"release: artifact {art['name']} changed while registering; rerun the chain")
        artifacts.append({**art, "uri": ref.uri, "size": ref.size})
    spec["artifacts"] = artifacts
    return spec


def _same_tuple(entry, spec: Mapping[str, Any]) -> bool:
    old = entry.spec.to_dict()
    return all(old.get(f) == spec.get(f) for f in TUPLE_FIELDS)


def register_release(registry, *, actor: str, run_id: str, pipeline: str = "dagster",
                     params_path: str | Path = DEFAULT_PARAMS_PATH,
                     datasets: Mapping[str, str] | None = None, root: str | Path = "."):
    """Register the current outputs; returns `(entry, created)`.

    A run that reproduces the latest version's tuple exactly (same checksums, data, prompt,
    params) does not make a new version: its eval is recorded against the existing one.
    """
    spec = _store_artifacts(registry, build_release_spec(params_path, datasets=datasets))
    spec["lineage"] = collect_lineage(root, run_id=run_id, pipeline=pipeline, params_path=params_path)
    report = json.loads(Path((read_params_file(params_path).get("eval") or {}).get("out", "metrics/eval.json")).read_text())
    versions = registry.versions(spec["name"])
    if versions:
        latest = registry.get(spec["name"], versions[-1])
        if _same_tuple(latest, spec):
            registry.record_eval(spec["name"], latest.version, report["tuned"], actor=actor)
            return latest, False
    entry = registry.register(spec, actor=actor)
    registry.record_eval(entry.spec.name, entry.version, report["tuned"], actor=actor)
    return entry, True


def incumbent_scores(registry, *, name: str) -> dict[str, float]:
    """Eval scores of the versions holding staging or production, keyed `env/stage`."""
    if not registry.versions(name):
        return {}
    scores = {}
    for env, stages in registry.status(name).items():
        for stage in ("staging", "production"):
            version = stages.get(stage)
            if version:
                entry = registry.get(name, version)
                if entry.spec.eval is not None:
                    scores[f"{env}/{stage}"] = entry.spec.eval.score
    return scores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the release tuple of the current outputs (the entry spec) to YAML.")
    parser.add_argument("--params", default=DEFAULT_PARAMS_PATH)
    parser.add_argument("--out", help="output YAML (default: registry.release_path)")
    args = parser.parse_args(argv)
    try:
        spec = build_release_spec(args.params)
        out = Path(args.out or _registry_section(read_params_file(args.params)).get("release_path", "release/entry.yaml"))
    except TrainingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out.parent.mkdir(parents=True, exist_ok=True)
    # The registry reads an entry file's relative paths against the file's own folder and
    # refuses '..': name the outputs absolutely so `llmreg register` finds them from anywhere.
    spec["model"]["uri"] = str(Path(spec["model"]["uri"]).resolve())
    for art in spec["artifacts"]:
        art["uri"] = str(Path(art["uri"]).resolve())
    header = "# Written by `python -m training.release` (dvc stage release_tuple). Register with:\n#   llmreg register " + str(out) + "\n"
    out.write_text(header + yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    print(f"release tuple for {spec['name']} written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
