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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from training.dvc_lock import LockCheck, lock_check, record_in_dvc_lock
from training.errors import TrainingError
from training.outputs import write_text
from training.params import DEFAULT_PARAMS_PATH, Params, load_params

# Tuple fields whose change makes a new version; eval and lineage alone only re-evaluate it.
TUPLE_FIELDS = ("model", "prompt_ref", "prompt_sha256", "params", "artifacts", "datasets",
                "training", "tools_ref", "retrieval", "policy_ref")


def build_release_spec(params: Params, root: str | Path = ".", *,
                       datasets: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The entry spec for the outputs under `root` (URIs stay relative to it)."""
    from llmreg.registry.prompts import load_prompt
    from training.dvc_versioning import dvc_version_id

    root = Path(root)
    reg, data, base, lora = params.registry, params.data, params.base_model, params.lora
    eval_out = Path(params.eval.out)
    for path, stage in ((Path(base.metrics_path), "training.base_model"), (Path(lora.metrics_path), "training.lora"),
                        (eval_out, "training.evaluation")):
        if not (root / path).is_file():
            raise TrainingError(f"release: {path} does not exist; run `python -m {stage}` (or `dvc repro`) first")
    base_metrics = json.loads((root / base.metrics_path).read_text())
    train_metrics = json.loads((root / lora.metrics_path).read_text())
    report = json.loads((root / eval_out).read_text())["tuned"]
    prompt = load_prompt(root / data.prompt_path)
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
        datasets = {"train": dvc_version_id(root / data.train_path), "eval": dvc_version_id(root / data.eval_path)}
    adapter_size = sum(f.stat().st_size for f in (root / lora.output_dir).rglob("*") if f.is_file())
    return {
        "name": reg.name,
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
        "owner": reg.owner,
        "card": {
            "intended_use": "Route English support tickets to one of five queues "
                            "(billing, technical, account, shipping, refund).",
            "limitations": "Trained on a synthetic corpus; unseen phrasing, other languages and "
                           "multi-issue tickets are out of scope.",
            "training_data": f"{data.n_tickets} synthetic tickets (seed {data.seed}), "
                             f"{1 - data.eval_fraction:.0%} train / {data.eval_fraction:.0%} eval, "
                             "stratified by label; segments eu/us/apac.",
            "contact": reg.contact,
        },
    }


def _git(root: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip()


def output_paths(params: Params) -> dict[str, str]:
    """Where the chain writes each registered component, so `llmreg reproduce` can compare."""
    return {"model": params.base_model.output_dir, "artifacts.adapter": params.lora.output_dir,
            "datasets.train": params.data.train_path, "datasets.eval": params.data.eval_path}


def environment_of(params: Params, root: Path) -> dict[str, Any] | None:
    """The environment the training step recorded (the adapter's; the base model's must match)."""
    train = json.loads((root / params.lora.metrics_path).read_text())
    return train.get("environment")


def collect_lineage(root: str | Path, params: Params, *, run_id: str, pipeline: str,
                    lock: LockCheck | None = None) -> dict[str, Any]:
    """What registration adds: the code commit, dvc.lock's record of the outputs, the run, the environment."""
    root = Path(root)
    lock_file = root / "dvc.lock"
    # dvc.lock is the record of the outputs, checked output by output below; a change there
    # alone does not make the code that produced them differ from the commit.
    status = _git(root, "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)dvc.lock")
    lineage = {
        "git_commit": _git(root, "rev-parse", "HEAD") or "unknown",
        "git_dirty": bool(status) if status is not None else None,
        "dvc_lock_sha256": hashlib.sha256(lock_file.read_bytes()).hexdigest() if lock_file.is_file() else None,
        "params_sha256": hashlib.sha256((root / DEFAULT_PARAMS_PATH).read_bytes()).hexdigest()
        if (root / DEFAULT_PARAMS_PATH).is_file() else None,
        "training_run": run_id,
        "pipeline": pipeline,
        "outputs": output_paths(params),
        "environment": environment_of(params, root),
    }
    if lock is not None:
        lineage.update(lock.to_lineage())
    return lineage


def _store_artifacts(registry, spec: dict[str, Any], root: Path) -> dict[str, Any]:
    """Copy the model and adapter into the content-addressed store and point the spec there."""
    spec = dict(spec)
    model = dict(spec["model"])
    if model["provider"] == "local":
        ref = registry.artifacts.put(str(root / model["uri"]), "base-model", kind="weights")
        if ref.sha256 != model["sha256"]:
            raise TrainingError(f"release: base model changed while registering ({model['sha256']} -> {ref.sha256}); rerun the chain")
        model["uri"] = ref.uri
    spec["model"] = model
    artifacts = []
    for art in spec["artifacts"]:
        ref = registry.artifacts.put(str(root / art["uri"]), art["name"], kind=art["kind"])
        if ref.sha256 != art["sha256"]:
            raise TrainingError(f"release: artifact {art['name']} changed while registering; rerun the chain")
        artifacts.append({**art, "uri": ref.uri, "size": ref.size})
    spec["artifacts"] = artifacts
    return spec


def _same_tuple(entry, spec: Mapping[str, Any]) -> bool:
    old = entry.spec.to_dict()
    return all(old.get(f) == spec.get(f) for f in TUPLE_FIELDS)


@dataclass(frozen=True)
class Registration:
    entry: Any  # llmreg.registry Entry
    created: bool
    lock: LockCheck
    report: dict[str, Any]  # the tuned eval report recorded with it


def register_release(registry, params: Params, root: str | Path = ".", *, actor: str, run_id: str,
                     pipeline: str = "dagster", datasets: Mapping[str, str] | None = None,
                     update_dvc_lock: bool = True, require_dvc_lock: bool = False) -> Registration:
    """Register the outputs under `root`.

    First dvc.lock is brought up to date (`dvc commit`, as `dvc repro` leaves it) and every
    output's digest compared with what the working tree's and the commit's dvc.lock record;
    the result is in the lineage (`reproducible_from_dvc`, `output_digests`). With
    `require_dvc_lock` a mismatch refuses the registration instead.

    A run that reproduces the latest version's tuple exactly (same checksums, data, prompt,
    params) does not make a new version: its eval is recorded against the existing one.
    """
    root = Path(root).resolve()
    note = record_in_dvc_lock(root) if update_dvc_lock else "dvc.lock not updated by this run"
    lock = lock_check(root, list(output_paths(params).values()), note)
    if require_dvc_lock and not lock.reproducible_from_dvc:
        raise TrainingError(
            "release: the commit's dvc.lock does not describe "
            f"{', '.join(lock.committed or lock.working) or 'the outputs'} ({lock.note or 'digests differ'}); "
            "commit dvc.lock after `dvc commit`, or register without require_dvc_lock")
    spec = _store_artifacts(registry, build_release_spec(params, root, datasets=datasets), root)
    spec["lineage"] = collect_lineage(root, params, run_id=run_id, pipeline=pipeline, lock=lock)
    report = json.loads((root / params.eval.out).read_text())["tuned"]
    versions = registry.versions(spec["name"])
    if versions:
        latest = registry.get(spec["name"], versions[-1])
        if _same_tuple(latest, spec):
            registry.record_eval(spec["name"], latest.version, report, actor=actor)
            return Registration(latest, False, lock, report)
    entry = registry.register(spec, actor=actor)
    registry.record_eval(entry.spec.name, entry.version, report, actor=actor)
    return Registration(entry, True, lock, report)


def incumbents(registry, *, name: str) -> dict[str, tuple[str, float]]:
    """(version, eval score) of the versions holding staging or production, keyed `env/stage`."""
    if not registry.versions(name):
        return {}
    held = {}
    for env, stages in registry.status(name).items():
        for stage in ("staging", "production"):
            version = stages.get(stage)
            if version:
                entry = registry.get(name, version)
                if entry.spec.eval is not None:
                    held[f"{env}/{stage}"] = (version, entry.spec.eval.score)
    return held


def reject_release(registry, params: Params, root: str | Path = ".", *, actor: str, run_id: str, check: str,
                   detail: str, incumbent: str | None = None, context: Mapping[str, Any] | None = None,
                   pipeline: str = "dagster"):
    """Put the candidate under `root` that `check` stopped on the record: a `candidate.rejected`
    event with its tuple's digests, the eval report as evidence and the incumbent it lost to.
    Nothing is registered and no artifact is copied into the store."""
    root = Path(root).resolve()
    spec = build_release_spec(params, root)
    spec["lineage"] = collect_lineage(root, params, run_id=run_id, pipeline=pipeline)
    report = dict(json.loads((root / params.eval.out).read_text())["tuned"])
    report["failed_checks"] = [*report.get("failed_checks", []), check]
    report["pipeline_checks"] = {**report.get("pipeline_checks", {}), check: {"passed": False, "detail": detail}}
    return registry.reject_candidate(spec, check=check, detail=detail, report=report, actor=actor,
                                     incumbent=incumbent, context=context)


@dataclass(frozen=True)
class ReleaseResult:
    path: Path
    spec: dict[str, Any]


def release_step(params: Params, root: str | Path = ".") -> ReleaseResult:
    """Write the release tuple of the outputs under `root` to registry.release_path."""
    root = Path(root).resolve()
    spec = build_release_spec(params, root)
    out = root / params.registry.release_path
    # The registry reads an entry file's relative paths against the file's own folder and
    # refuses '..': name the outputs absolutely so `llmreg register` finds them from anywhere.
    spec["model"]["uri"] = str((root / spec["model"]["uri"]).resolve())
    for art in spec["artifacts"]:
        art["uri"] = str((root / art["uri"]).resolve())
    header = ("# Written by `python -m training.release` (dvc stage release_tuple). Register with:\n#   llmreg register "
              + str(params.registry.release_path) + "\n")
    write_text(header + yaml.safe_dump(spec, sort_keys=False), out)
    return ReleaseResult(out, spec)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the release tuple of the current outputs (the entry spec) to YAML.")
    parser.add_argument("--params", default=DEFAULT_PARAMS_PATH)
    args = parser.parse_args(argv)
    try:
        result = release_step(load_params(args.params))
    except TrainingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"release tuple for {result.spec['name']} written to {result.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
