"""open-weights-finetune: the pipeline's release tuple registered, promoted and turned into `vllm serve`."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import yaml

from llmreg.registry.artifacts import hash_path

NAME = "triage-open-weights"


def _to_production(llmreg, version: str = "1.0.0") -> None:
    ref = f"{NAME}@{version}"
    llmreg("promote", ref, "--to", "staging", actor="ci-bot")
    llmreg("review", ref, "--notes", "ok", actor="carol")
    llmreg("promote", ref, "--to", "canary", "--weight", "0.2", actor="dana")
    llmreg("evidence", ref, "evidence-canary-slo.yaml", "--kind", "canary_slo", actor="system:slo-guard")
    llmreg("approve", ref, "--to", "production", actor="bob")
    llmreg("approve", ref, "--to", "production", actor="dana")
    llmreg("promote", ref, "--to", "production", actor="dana")


@pytest.fixture
def deployed(example):
    llmreg = example("open-weights-finetune")
    llmreg("suite", "register", "evals/triage-eval.yaml", actor="admin")
    entry = llmreg("register", "entry.yaml", actor="ci-bot", as_json=True).data
    assert (entry["version"], entry["bump"]) == ("1.0.0", "initial")
    return llmreg, entry


def test_entry_names_everything_the_deployment_needs(deployed):
    llmreg, entry = deployed
    spec = entry["spec"]
    assert spec["model"]["provider"] == "local" and len(spec["model"]["sha256"]) == 64
    assert set(spec["datasets"]) == {"train", "eval"} and all(v.startswith("md5:") for v in spec["datasets"].values())
    assert [(a["name"], a["kind"]) for a in spec["artifacts"]] == [("adapter", "adapter")]
    assert spec["training"]["lora"]["r"] == 8 and spec["eval"]["suite"] == "triage-eval-tiny"
    nodes = {n["id"].split(":")[0] for n in llmreg("lineage", f"{NAME}@1.0.0", as_json=True).data["nodes"]}
    assert {"dataset", "model", "training", "artifact", "eval", "entry"} <= nodes


def test_vllm_command_serves_the_verified_store_copies_of_the_resolved_version(deployed):
    llmreg, entry = deployed
    _to_production(llmreg)
    plan = llmreg("vllm-command", NAME, "--env", "default", "--port", "8000", as_json=True).data
    store = Path(llmreg.artifacts)
    base_path, adapter_path = plan["base_model"]["path"], plan["adapters"][0]["path"]
    assert plan["argv"] == ["vllm", "serve", base_path, "--served-model-name", "llm-registry/triage-base-tiny",
                            "--enable-lora", "--lora-modules", f"{NAME}@1.0.0={adapter_path}",
                            "--max-lora-rank", "8", "--port", "8000"]
    for path, recorded in ((base_path, entry["spec"]["model"]["sha256"]),
                           (adapter_path, entry["spec"]["artifacts"][0]["sha256"])):
        assert Path(path).is_relative_to(store) and hash_path(path)[0] == recorded
    assert plan["request"] == {"model": f"{NAME}@1.0.0", "params": {"max_new_tokens": 1, "temperature": 0.0}}
    text = llmreg("vllm-command", NAME, "--port", "8000").stdout.strip()
    assert text == plan["command"] and text.startswith("vllm serve ")
    named = llmreg("vllm-command", NAME, "--lora-name", "triage-prod", as_json=True).data
    assert f"triage-prod={adapter_path}" in named["argv"] and named["request"]["model"] == "triage-prod"
    assert "lora_name" in llmreg("vllm-command", NAME, "--lora-name", "a=b", code=2).stderr

    # a patch release in canary: the canary command serves 1.0.1, production still 1.0.0
    patched = yaml.safe_load((llmreg.dir / "entry.yaml").read_text())
    patched["params"]["temperature"] = 0.1
    (llmreg.dir / "entry-1.0.1.yaml").write_text(yaml.safe_dump(patched))
    assert llmreg("register", "entry-1.0.1.yaml", actor="ci-bot", as_json=True).data["bump"] == "patch"
    llmreg("promote", f"{NAME}@1.0.1", "--to", "staging", actor="ci-bot")
    llmreg("review", f"{NAME}@1.0.1", "--notes", "ok", actor="carol")
    llmreg("promote", f"{NAME}@1.0.1", "--to", "canary", actor="dana")
    canary = llmreg("vllm-command", NAME, "--stage", "canary", as_json=True).data
    assert (canary["version"], canary["adapters"][0]["lora_name"]) == ("1.0.1", f"{NAME}@1.0.1")
    assert llmreg("vllm-command", NAME, as_json=True).data["version"] == "1.0.0"


def test_vllm_command_refuses_a_tampered_adapter(deployed):
    llmreg, entry = deployed
    _to_production(llmreg)
    stored = Path(llmreg.artifacts, "sha256", entry["spec"]["artifacts"][0]["sha256"][:2],
                  entry["spec"]["artifacts"][0]["sha256"], "adapter_model.safetensors")
    os.chmod(stored, stat.S_IRUSR | stat.S_IWUSR)
    with open(stored, "ab") as handle:
        handle.write(b"\0")
    reason = llmreg.refused("vllm-command", NAME)
    assert "integrity check failed" in reason and "'adapter'" in reason


def test_vllm_command_refuses_hosted_models_and_uses_hub_revisions(example):
    llmreg = example("open-weights-finetune")
    (llmreg.dir / "gates.yaml").write_text("eval_threshold: 0.5\n")
    (llmreg.dir / "hosted.yaml").write_text("name: hosted\nmodel: gpt-4o-2024-08-06\neval: {suite: s, score: 0.9, run: r}\n")
    digest, size = hash_path(llmreg.dir / "models/adapter")
    (llmreg.dir / "hub.yaml").write_text(
        "name: hub\nmodel: {provider: hf, id: meta-llama/Llama-3.2-1B-Instruct, "
        "revision: 9213176726f574b556790deb65791e0c5aa438b6}\n"
        f"artifacts: [{{name: adapter, uri: models/adapter, kind: adapter, sha256: {digest}, size: {size}}}]\n"
        "eval: {suite: s, score: 0.9, run: r}\n")
    llmreg("gates", "set", "gates.yaml", actor="admin")
    for name in ("hosted", "hub"):
        llmreg("register", f"{name}.yaml", actor="ci-bot")
        llmreg("promote", f"{name}@1.0.0", "--to", "staging", actor="ci-bot")
    plan = llmreg("vllm-command", "hub", "--stage", "staging", as_json=True).data
    assert plan["argv"][:5] == ["vllm", "serve", "meta-llama/Llama-3.2-1B-Instruct", "--revision",
                                "9213176726f574b556790deb65791e0c5aa438b6"]
    assert plan["adapters"][0]["rank"] == 8
    assert "hosted model openai:gpt-4o-2024-08-06" in llmreg.refused("vllm-command", "hosted", "--stage", "staging")


@pytest.mark.slow
def test_the_printed_paths_load_as_a_working_peft_adapter(deployed):
    """What vllm-command points at is a real base model + LoRA adapter (loaded with transformers+peft)."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from llmreg.registry.prompts import load_prompt

    llmreg, _ = deployed
    _to_production(llmreg)
    plan = llmreg("vllm-command", NAME, as_json=True).data
    tokenizer = AutoTokenizer.from_pretrained(plan["base_model"]["path"])
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(plan["base_model"]["path"]),
                                      plan["adapters"][0]["path"])
    prompt = load_prompt(llmreg.dir / "prompts/triage-prompt.yaml").render(text="i was charged twice on my invoice")
    with torch.no_grad():
        out = model.generate(**tokenizer(prompt, return_tensors="pt"), max_new_tokens=1, do_sample=False)
    answer = tokenizer.decode(out[0, -1:]).strip()
    assert answer in {"billing", "technical", "account", "shipping", "refund"}
