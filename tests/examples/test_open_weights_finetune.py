"""open-weights-finetune: the pipeline's release tuple registered, promoted and turned into `vllm serve`.

Runs examples/open-weights-finetune/run.sh and checks what it printed and the registry it
left; the refusals and the patch release go on from there on a copy."""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
import yaml

from llmreg.registry.artifacts import hash_path
from llmreg.registry.documents import read_document

EXAMPLE = "open-weights-finetune"
NAME = "triage-open-weights"


def test_entry_names_everything_the_deployment_needs(scenario):
    assert scenario.step("register entry.yaml").output == f"registered {NAME}@1.0.0 (first version)"
    spec = scenario.llmreg.registry().get(NAME, "1.0.0").spec.to_dict()
    assert spec["model"]["provider"] == "local" and len(spec["model"]["sha256"]) == 64
    assert set(spec["datasets"]) == {"train", "eval"} and all(v.startswith("md5:") for v in spec["datasets"].values())
    assert [(a["name"], a["kind"]) for a in spec["artifacts"]] == [("adapter", "adapter")]
    assert spec["training"]["lora"]["r"] == 8 and spec["eval"]["suite"] == "triage-eval-tiny"
    mermaid = scenario.step(f"lineage {NAME}@1.0.0 --format mermaid").output
    nodes = {line.split("= ", 1)[1].split(":")[0] for line in mermaid.splitlines() if line.strip().startswith("%% n")}
    assert {"dataset", "model", "training", "artifact", "eval", "entry"} <= nodes
    assert "verified 2 artifact(s): all match" in scenario.step(f"verify {NAME}@1.0.0").output


def test_vllm_command_serves_the_verified_store_copies_of_the_resolved_version(scenario):
    plan = json.loads(scenario.step(f"vllm-command {NAME} --json").output)
    store = Path(scenario.llmreg.artifacts)
    base_path, adapter_path = plan["base_model"]["path"], plan["adapters"][0]["path"]
    assert plan["argv"] == ["vllm", "serve", base_path, "--served-model-name", "llm-registry/triage-base-tiny",
                            "--enable-lora", "--lora-modules", f"{NAME}@1.0.0={adapter_path}",
                            "--max-lora-rank", "8"]
    spec = scenario.llmreg.registry().get(NAME, "1.0.0").spec
    for path, recorded in ((base_path, spec.model.sha256), (adapter_path, spec.artifacts[0].sha256)):
        assert Path(path).is_relative_to(store) and hash_path(path)[0] == recorded
    assert plan["request"] == {"model": f"{NAME}@1.0.0", "params": {"max_new_tokens": 1, "temperature": 0.0}}
    assert scenario.step(f"vllm-command {NAME} --env default --port 8000").output == plan["command"] + " --port 8000"
    assert scenario.step(f"vllm-command {NAME} --stage canary").output == plan["command"]  # same version then


def test_lora_names_and_a_patch_release_in_canary(forked):
    llmreg = forked()
    plan = llmreg("vllm-command", NAME, as_json=True).data
    named = llmreg("vllm-command", NAME, "--lora-name", "triage-prod", as_json=True).data
    assert f"triage-prod={plan['adapters'][0]['path']}" in named["argv"] and named["request"]["model"] == "triage-prod"
    assert "lora_name" in llmreg("vllm-command", NAME, "--lora-name", "a=b", code=2).stderr

    # a patch release in canary: the canary command serves 1.0.1, production still 1.0.0
    patched = read_document(llmreg.dir / "entry.yaml", "entry")
    patched["params"]["temperature"] = 0.1
    (llmreg.dir / "entry-1.0.1.yaml").write_text(yaml.safe_dump(patched))
    assert llmreg("register", "entry-1.0.1.yaml", actor="ci-bot", as_json=True).data["bump"] == "patch"
    llmreg("promote", f"{NAME}@1.0.1", "--to", "staging", actor="ci-bot")
    llmreg("review", f"{NAME}@1.0.1", "--notes", "ok", actor="carol")
    llmreg("promote", f"{NAME}@1.0.1", "--to", "canary", actor="dana")
    canary = llmreg("vllm-command", NAME, "--stage", "canary", as_json=True).data
    assert (canary["version"], canary["adapters"][0]["lora_name"]) == ("1.0.1", f"{NAME}@1.0.1")
    assert llmreg("vllm-command", NAME, as_json=True).data["version"] == "1.0.0"


def test_vllm_command_refuses_a_tampered_adapter(forked):
    llmreg = forked()
    digest = llmreg.registry().get(NAME, "1.0.0").spec.artifacts[0].sha256
    stored = Path(llmreg.artifacts, "sha256", digest[:2], digest, "adapter_model.safetensors")
    os.chmod(stored, stat.S_IRUSR | stat.S_IWUSR)
    with open(stored, "ab") as handle:
        handle.write(b"\0")
    reason = llmreg.refused("vllm-command", NAME)
    assert "integrity check failed" in reason and "'adapter'" in reason


def test_vllm_command_refuses_hosted_models_and_uses_hub_revisions(forked):
    llmreg = forked()
    (llmreg.dir / "gates.yaml").write_text("eval_threshold: 0.5\n")
    (llmreg.dir / "hosted.yaml").write_text(
        "name: hosted\nmodel: gpt-4o-2024-08-06\neval: {suite: s, score: 0.9, run: r}\n")
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
def test_the_printed_paths_load_as_a_working_peft_adapter(scenario):
    """What vllm-command points at is a real base model + LoRA adapter (loaded with transformers+peft)."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from llmreg.registry.prompts import load_prompt

    plan = json.loads(scenario.step(f"vllm-command {NAME} --json").output)
    tokenizer = AutoTokenizer.from_pretrained(plan["base_model"]["path"])
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(plan["base_model"]["path"]),
                                      plan["adapters"][0]["path"])
    prompt = load_prompt(scenario.llmreg.dir / "prompts/triage-prompt.yaml").render(
        text="i was charged twice on my invoice")
    with torch.no_grad():
        out = model.generate(**tokenizer(prompt, return_tensors="pt"), max_new_tokens=1, do_sample=False)
    answer = tokenizer.decode(out[0, -1:]).strip()
    assert answer in {"billing", "technical", "account", "shipping", "refund"}
