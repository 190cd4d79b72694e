"""The `vllm serve` command for a resolved registry version: a pure plan, no process started.

A vLLM deployment pulls the registry-tagged bytes, not whatever sits at the path the entry
was registered from: the base model and every LoRA adapter are re-hashed (the artifact
store's content-addressed copy first) and the command points at the copies that matched.
A mismatch is a refusal naming the artifact, so a tampered adapter never gets served.
`llmreg vllm-command` prints it; anything that deploys vLLM can call `vllm_plan` directly.

    vllm serve /srv/llmreg/artifacts/sha256/51/51ad... --served-model-name llm-registry/triage-base-tiny \
        --enable-lora --lora-modules triage-open-weights@1.0.0=/srv/llmreg/artifacts/sha256/d0/d0d1... \
        --max-lora-rank 8

Clients then send `model: "triage-open-weights@1.0.0"` (the LoRA module name) to the server.
"""
from __future__ import annotations

import json
import os
import shlex
from typing import Any

# vLLM accepts only these values for --max-lora-rank; an adapter's rank rounds up to one.
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
# Providers whose weights vLLM can load: a hub snapshot or files the registry hashed.
OPEN_WEIGHT_PROVIDERS = ("hf", "huggingface", "local", "vllm")


def _max_lora_rank(rank: int) -> int:
    for allowed in VLLM_LORA_RANKS:
        if rank <= allowed:
            return allowed
    from llmreg.registry.errors import Refused

    raise Refused(f"adapter rank {rank} is above vLLM's largest --max-lora-rank ({VLLM_LORA_RANKS[-1]})")


def _adapter_rank(path: str | None, training: Any) -> int | None:
    """The LoRA rank: adapter_config.json (r, and any larger rank_pattern value), else training.lora.r."""
    if path and os.path.isdir(path):
        config_path = os.path.join(path, "adapter_config.json")
        try:
            with open(config_path, encoding="utf-8") as handle:
                config = json.load(handle)
        except (OSError, ValueError):
            config = None
        if isinstance(config, dict) and isinstance(config.get("r"), int):
            ranks = [config["r"]] + [v for v in (config.get("rank_pattern") or {}).values() if isinstance(v, int)]
            return max(ranks)
    lora: Any = training.get("lora") if hasattr(training, "get") else None
    rank = lora.get("r") if hasattr(lora, "get") else None
    return rank if isinstance(rank, int) and not isinstance(rank, bool) else None


# runtime (release_parts.py) -> vllm serve flags; quantization "none" means full precision.
VLLM_RUNTIME_FLAGS = (("quantization", "--quantization"), ("dtype", "--dtype"), ("max_model_len", "--max-model-len"),
                      ("tensor_parallel_size", "--tensor-parallel-size"))
VLLM_BATCH_FLAGS = (("max_num_seqs", "--max-num-seqs"), ("max_num_batched_tokens", "--max-num-batched-tokens"))


def runtime_flags(runtime: Any) -> list[str]:
    flags = []
    for key, flag in VLLM_RUNTIME_FLAGS:
        if runtime.get(key) is not None and runtime.get(key) != "none":
            flags += [flag, str(runtime[key])]
    for key, flag in VLLM_BATCH_FLAGS:
        if (runtime.get("batch") or {}).get(key) is not None:
            flags += [flag, str(runtime["batch"][key])]
    return flags


def runtime_engine_kwargs(runtime: Any) -> dict[str, Any]:
    """The same settings as `runtime_flags`, as vllm.LLM(...) keyword arguments (in-process engine)."""
    kwargs: dict[str, Any] = {}
    for key, flag in VLLM_RUNTIME_FLAGS:
        if runtime.get(key) is not None and runtime.get(key) != "none":
            kwargs[flag.lstrip("-").replace("-", "_")] = runtime[key]
    for key, flag in VLLM_BATCH_FLAGS:
        if (runtime.get("batch") or {}).get(key) is not None:
            kwargs[flag.lstrip("-").replace("-", "_")] = runtime["batch"][key]
    return kwargs


def vllm_plan(registry, name: str, env: str = "default", *, stage: str | None = None, at: Any = None,
              lora_name: str | None = None, port: int | None = None) -> dict[str, Any]:
    """What a vLLM server needs to serve the version holding `stage` of `env` (now or at `at`).

    Returns {ref, name, version, env, stage, weight, argv, command, base_model, adapters, request}.
    Raises Refused for a hosted model (nothing to serve), IntegrityError when a file does not
    hash to its recorded sha256.
    """
    from llmreg.registry.entry import ArtifactRef
    from llmreg.registry.errors import BadInput, IntegrityError, Refused

    if lora_name is not None and (not lora_name or "=" in lora_name or any(c.isspace() for c in lora_name)):
        raise BadInput(f"lora_name: {lora_name!r} cannot be a vLLM module name (no '=', no spaces); "
                       "e.g. --lora-name support-triage-prod", field="lora_name")
    from llmreg.registry.resolve import env_and_stage

    env, stage = env_and_stage(env, stage)  # the seed's `--env production` names a stage
    resolved = registry.resolve(name, env, stage=stage, at=at)
    entry, spec, model = resolved.entry, resolved.spec, resolved.spec.model
    if model.provider not in OPEN_WEIGHT_PROVIDERS:
        raise Refused(f"{entry.ref} uses the hosted model {model.provider}:{model.request_id}; vLLM serves open "
                      f"weights (model.provider {', '.join(OPEN_WEIGHT_PROVIDERS)}), call the provider instead")

    def verified(ref: ArtifactRef) -> str:
        check = registry.artifacts.verify(ref, owner=entry.ref)
        if not check.ok:
            raise IntegrityError(check.detail)
        return check.location

    base: dict[str, Any] = {"provider": model.provider, "id": model.id, "served_model_name": model.id}
    argv = ["vllm", "serve"]
    if model.sha256 and (model.uri or registry.artifacts.contains(model.sha256)):
        path = verified(ArtifactRef(name="model", uri=model.uri or registry.artifacts.uri(model.sha256),
                                    sha256=model.sha256, size=0, kind="weights"))
        base.update(path=path, sha256=model.sha256)
        argv.append(path)
    elif model.revision:
        argv += [model.id, "--revision", model.revision]
    else:
        raise Refused(f"{entry.ref}: the base model {model.id!r} has neither a checksummed file (model.sha256 + "
                      "uri) nor a hub revision; vLLM would load unpinned weights")
    argv += ["--served-model-name", model.id]
    if model.revision:
        base["revision"] = model.revision

    adapters = [a for a in spec.artifacts if a.kind == "adapter"]
    default_name = lora_name or entry.ref
    planned = []
    for artifact in adapters:
        path = verified(artifact)
        module = default_name if len(adapters) == 1 else f"{default_name}/{artifact.name}"
        planned.append({"artifact": artifact.name, "lora_name": module, "path": path, "sha256": artifact.sha256,
                        "rank": _adapter_rank(path, spec.training)})
    if planned:
        argv.append("--enable-lora")
        argv += ["--lora-modules", *(f"{a['lora_name']}={a['path']}" for a in planned)]
        ranks = [a["rank"] for a in planned if a["rank"] is not None]
        if ranks:
            argv += ["--max-lora-rank", str(_max_lora_rank(max(ranks)))]
        if len(planned) > 1:
            argv += ["--max-loras", str(len(planned))]
    argv += runtime_flags(spec.runtime)  # the serving configuration the version pins, not flags
    if spec.tokenizer.get("uri"):
        argv += ["--tokenizer", verified(ArtifactRef(name="tokenizer", uri=spec.tokenizer["uri"],
                                                     sha256=spec.tokenizer["sha256"], size=0, kind="tokenizer"))]
    if port is not None:
        argv += ["--port", str(port)]
    return {
        "ref": entry.ref, "name": entry.name, "version": entry.version, "env": resolved.env,
        "stage": resolved.stage, "weight": resolved.weight, "at": resolved.at,
        "argv": argv, "command": shlex.join(argv),
        "base_model": base, "adapters": planned,
        # What a client sends to that server for this version.
        "request": {"model": planned[0]["lora_name"] if planned else model.id, "params": dict(spec.params),
                    **({"decoding": dict(spec.decoding)} if spec.decoding else {})},
    }
