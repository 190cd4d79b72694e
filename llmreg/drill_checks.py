"""The drill checks that need the gateway: does the rollback target load where it would be
served, and does its prompt template resolve? Nothing is served and no weights are loaded.

`backend_load` follows the gateway's own choice (llmreg/serving/backends/pool.py): an
upstream configured for the model's provider serves it (nothing loads locally); a local/hf
model has its files verified by the gateway's `verified_files` (the same checksums the
gateway refuses to load without) and then its model config (and adapter config) read the
way transformers/peft read them, without the weights. A hosted model with no upstream is a
failure only when a gateway config is given to check against.

    checks = gateway_checks(reg, prompts_dir="prompts", config=GatewayConfig.from_file("gateway.yaml"))
    reg.drill("support-triage", "default", actor="ops", checks=checks)
"""
from __future__ import annotations

import json
import os
from typing import Any, Callable

LOCAL_PROVIDERS = ("local", "hf", "huggingface")  # as llmreg/serving/backends/pool.py routes them


def gateway_checks(registry: Any, *, prompts_dir: str | None = None, config: Any = None) -> dict[str, Callable]:
    """{"backend_load": ..., "refs": ... (only with a prompts directory)} for Registry.drill."""
    prompts_dir = prompts_dir or (config.prompts_dir if config is not None else None)
    checks: dict[str, Callable] = {"backend_load": lambda entry: backend_load(registry, entry, config)}
    if prompts_dir:
        checks["refs"] = lambda entry: prompt_resolves(entry, prompts_dir)
    return checks


def prompt_resolves(entry: Any, prompts_dir: str) -> tuple[bool, str]:
    """The template the gateway would render: name, version and digest must all match a file."""
    from llmreg.serving.templates import PromptLibrary

    spec = entry.spec
    if not spec.prompt_ref:
        return True, "no prompt template pinned"
    try:
        PromptLibrary(prompts_dir).get(spec.prompt_ref, spec.prompt_sha256)
    except Exception as exc:  # noqa: BLE001 - the gateway's ApiError; a drill reports it
        return False, f"prompt {spec.prompt_ref}: {getattr(exc, 'message', None) or exc}"
    pinned = "sha256 matches" if spec.prompt_sha256 else "no sha256 pinned"
    return True, f"prompt {spec.prompt_ref} found in {prompts_dir} ({pinned})"


def backend_load(registry: Any, entry: Any, config: Any = None) -> tuple[bool, str]:
    model = entry.spec.model
    upstreams = getattr(config, "upstreams", None) or {}
    if model.provider in upstreams:
        return True, f"served by upstream {model.provider} ({upstreams[model.provider].base_url}); nothing loads locally"
    if model.provider not in LOCAL_PROVIDERS:
        if config is None:
            return True, (f"hosted model {model.provider}:{model.request_id}: the gateway forwards it to "
                          f"upstreams.{model.provider} (no gateway config given to check it is configured)")
        return False, f"no upstream configured for provider {model.provider!r}; the gateway could not serve it"
    from llmreg.serving.backends.local_files import verified_files

    files = verified_files(entry, registry.artifacts)  # IntegrityError/NotFound: a failed check
    parts = [_model_config(files.base_dir)]
    if files.adapter_dir:
        parts.append(_adapter_config(files.adapter_dir))
    engine = getattr(config, "local_engine", "transformers")
    return True, f"{engine} backend would load: " + "; ".join(parts)


def _model_config(path: str) -> str:
    try:
        from transformers import AutoConfig
    except ImportError:
        data = _json(os.path.join(path, "config.json"))
        return f"model config.json ({data.get('model_type', 'unknown type')}) from {path}"
    loaded = AutoConfig.from_pretrained(path, local_files_only=True)
    return f"model config {type(loaded).__name__} ({loaded.model_type}) from {path}"


def _adapter_config(path: str) -> str:
    data = _json(os.path.join(path, "adapter_config.json"))
    rank = f" r={data['r']}" if "r" in data else ""
    return f"adapter config {data.get('peft_type', 'unknown type')}{rank} from {path}"


def _json(path: str) -> dict:
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return data
