"""support-triage: seed 001's entry through every gate, a prompt revision, a rollback, time travel."""
from __future__ import annotations

from datetime import datetime

NAME = "support-triage"


def _midpoint(a: str, b: str) -> str:
    ta, tb = (datetime.fromisoformat(t.replace("Z", "+00:00")) for t in (a, b))
    return (ta + (tb - ta) / 2).isoformat().replace("+00:00", "Z")


def _walk_to_production(llmreg, version: str, slo_file: str) -> None:
    ref = f"{NAME}@{version}"
    llmreg("promote", ref, "--to", "canary", "--weight", "0.1", actor="dana")
    assert llmreg.version_at(NAME, stage="canary") == version
    llmreg("evidence", ref, slo_file, "--kind", "canary_slo", actor="system:slo-guard")
    llmreg("approve", ref, "--to", "production", actor="bob")
    llmreg("approve", ref, "--to", "production", actor="dana")
    llmreg("promote", ref, "--to", "production", actor="dana")


def test_support_triage_lifecycle_prompt_revision_rollback_and_time_travel(example):
    llmreg = example("support-triage")
    llmreg("roles", "set", "roles.yaml", actor="admin")
    llmreg("suite", "register", "evals/triage-eval-v4.0.yaml", actor="admin")
    llmreg("suite", "register", "evals/triage-eval-v4.1.yaml", actor="admin")

    first = llmreg("register", "entry.yaml", actor="alice", as_json=True).data
    assert (first["version"], first["bump"]) == ("1.0.0", "initial")
    assert first["spec"]["model"] == {"provider": "openai", "id": "gpt-5-mini-2026-06-01",
                                      "snapshot": "gpt-5-mini-2026-06-01"}

    # draft -> staging on the entry's own eval (0.94 >= the registered suite's 0.9)
    promoted = llmreg("promote", f"{NAME}@1.0.0", "--to", "staging", actor="ci-bot", as_json=True).data
    assert any(g["gate"] == "eval_threshold" and "threshold 0.9" in g["detail"] for g in promoted["evidence"]["gates"])

    # staging -> canary: the review passes but the seed's eval has no segments to judge fairness
    llmreg("review", f"{NAME}@1.0.0", "--notes", "checked", actor="carol")
    assert "fairness" in llmreg.refused("promote", f"{NAME}@1.0.0", "--to", "canary", actor="dana")
    llmreg("eval", "record", f"{NAME}@1.0.0", "reports/eval-1.0.0.json", actor="ci-bot")

    # canary -> production: the author cannot approve; one approver is not enough
    llmreg("promote", f"{NAME}@1.0.0", "--to", "canary", "--weight", "0.1", actor="dana")
    canary = llmreg("resolve", NAME, "--stage", "canary", as_json=True).data
    assert (canary["version"], canary["weight"]) == ("1.0.0", 0.1)
    llmreg("evidence", f"{NAME}@1.0.0", "reports/canary-slo-1.0.0.yaml", "--kind", "canary_slo",
           actor="system:slo-guard")
    assert "author" in llmreg.refused("approve", f"{NAME}@1.0.0", "--to", "production", actor="alice")
    llmreg("approve", f"{NAME}@1.0.0", "--to", "production", actor="bob")
    assert "production_approvals" in llmreg.refused("promote", f"{NAME}@1.0.0", "--to", "production", actor="dana")
    assert "forbidden" in llmreg.refused("promote", f"{NAME}@1.0.0", "--to", "production", actor="alice")
    llmreg("approve", f"{NAME}@1.0.0", "--to", "production", actor="dana")
    v1_prod = llmreg("promote", f"{NAME}@1.0.0", "--to", "production", actor="dana", as_json=True).data
    assert v1_prod["evidence"]["approvers"] == ["bob", "dana"]
    assert llmreg.version_at(NAME) == "1.0.0"

    # the prompt revision: the diff decides a minor bump, and names only prompt fields at minor
    diff = llmreg("diff", f"{NAME}@1.0.0", "entry-prompt-v10.yaml", as_json=True).data
    assert diff["bump"] == "minor"
    assert sorted(c["path"] for c in diff["changes"] if c["level"] != "patch") == ["prompt_ref", "prompt_sha256"]
    second = llmreg("register", "entry-prompt-v10.yaml", actor="alice", as_json=True).data
    assert (second["version"], second["bump"], second["previous"]) == ("1.1.0", "minor", "1.0.0")
    llmreg("promote", f"{NAME}@1.1.0", "--to", "staging", actor="ci-bot")
    llmreg("review", f"{NAME}@1.1.0", "--notes", "checked", actor="carol")
    _walk_to_production(llmreg, "1.1.0", "reports/canary-slo-1.1.0.yaml")
    assert llmreg.version_at(NAME) == "1.1.0"

    # one-command rollback to the previous production version
    back = llmreg("rollback", NAME, "--reason", "refund tickets misrouted", actor="dana", as_json=True).data
    assert (back["version"], back["payload"]["from"]) == ("1.0.0", "1.1.0")
    assert llmreg.version_at(NAME) == "1.0.0"

    # time travel: moments between the production changes answer what ran then
    log = llmreg.registry().events(name=NAME, env="default")
    prod = [e for e in log if e.type == "stage.promoted" and e.payload["stage"] == "production"]
    rolled = [e for e in log if e.type == "stage.rolled_back"]
    assert [e.version for e in prod] == ["1.0.0", "1.1.0"] and len(rolled) == 1
    assert llmreg.version_at(NAME, at=_midpoint(prod[0].time, prod[1].time)) == "1.0.0"
    assert llmreg.version_at(NAME, at=_midpoint(prod[1].time, rolled[0].time)) == "1.1.0"
    before = _midpoint(first["created_at"], prod[0].time)
    assert "nothing held production" in llmreg.refused("resolve", NAME, "--at", before)

    statuses = {row["version"]: row["status"] for row in llmreg("list", NAME, as_json=True).data["versions"]}
    assert statuses == {"1.0.0": {"default": "production"}, "1.1.0": {"default": "retired"}}
    assert llmreg("audit", "verify", as_json=True).data["ok"] is True


def test_support_triage_entry_pins_its_prompt_and_tools(example):
    """The entry's prompt_sha256 is the hash of the template file it names; tools_ref names the schema file."""
    import yaml

    from llmreg.registry.entry import load_entry_file
    from llmreg.registry.prompts import load_prompt

    llmreg = example("support-triage")
    for entry_file, prompt_file in (("entry.yaml", "prompts/triage-prompt-v9.yaml"),
                                    ("entry-prompt-v10.yaml", "prompts/triage-prompt-v10.yaml")):
        spec, _ = load_entry_file(llmreg.dir / entry_file)
        prompt = load_prompt(llmreg.dir / prompt_file)
        assert (spec.prompt_ref, spec.prompt_sha256) == (prompt.ref, prompt.sha256)
        tools = yaml.safe_load((llmreg.dir / "tools/triage-tools-v3.yaml").read_text())
        assert spec.tools_ref == f"{tools['name']}@{tools['version']}"
