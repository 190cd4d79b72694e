"""hosted-providers: vendors pinned by snapshot, a qualified and a rejected snapshot, the drafted major version.

Runs examples/hosted-providers/run.py on a kept store and checks what it printed and the
registry it left."""
from __future__ import annotations

import importlib.util

import pytest

from llmreg.registry.errors import BadInput

EXAMPLE = "hosted-providers"


def _module(folder):
    spec = importlib.util.spec_from_file_location("hosted_providers_example", folder / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_qualification_drafts_a_major_version_only_for_the_qualified_snapshot(scenario):
    assert "qualified -> drafted chat-openai@4.0.0; rejected snapshots drafted nothing" in scenario.output
    reg = scenario.llmreg.registry()
    pins = {name: (r.version, r.model) for name in ("chat-openai", "chat-anthropic", "chat-google")
            for r in (reg.resolve(name, "default"),)}
    assert pins["chat-anthropic"] == ("2.1.0", "claude-3-5-sonnet-20241022")
    assert pins["chat-google"] == ("1.4.0", "gemini-1.5-pro-002")
    assert pins["chat-openai"] == ("3.2.0", "gpt-4o-2024-08-06")  # production untouched by qualification
    assert all(reg.get(name, version).bump == "import" for name, (version, _) in pins.items())

    log = {r.key: r for r in reg.provider_log()}
    assert len(log) == 5
    qualified, rejected = log["openai/gpt-4o-2024-11-20"], log["anthropic/claude-3-7-sonnet-20250219"]
    assert (qualified.status, qualified.score, qualified.drafts) == ("qualified", 0.936, ("chat-openai@4.0.0",))
    assert (rejected.status, rejected.drafts) == ("rejected", ())
    assert rejected.failed_checks == ("threshold", "latency_budget")
    assert log["google/gemini-1.5-pro-002"].shutdown_date == "2025-09-24"
    assert reg.versions("chat-anthropic") == ["2.1.0"]
    table = scenario.step("providers").output
    assert "claude-3-7-sonnet-20250219  2026" in table and " rejected   0.871" in table

    draft = reg.get("chat-openai", "4.0.0")
    assert (draft.bump, draft.previous, draft.spec.model.request_id) == ("major", "3.2.0", "gpt-4o-2024-11-20")
    assert draft.spec.prompt_sha256 == reg.get("chat-openai", "3.2.0").spec.prompt_sha256
    assert scenario.diff("diff chat-openai@3.2.0 chat-openai@4.0.0") == {
        "model.id": "major", "model.snapshot": "major", "bump": "major"}

    # the qualification report is the draft's eval; the staging gate judged it against the suite
    evals = [e for e in reg.events(name="chat-openai") if e.type == "eval.recorded" and e.version == "4.0.0"]
    assert [e.payload["eval"]["score"] for e in evals] == [0.936]
    gate = next(e for e in reg.events(name="chat-openai") if e.type == "gate.passed" and e.version == "4.0.0"
                and e.payload["gate"] == "eval_threshold")
    assert "threshold 0.9" in gate.payload["detail"] and "suite chat-eval definition" in gate.payload["detail"]
    assert scenario.step("resolve chat-openai --stage staging").output.startswith("chat-openai@4.0.0  (staging")
    assert scenario.llmreg.version_at("chat-openai") == "3.2.0"


def test_floating_aliases_are_never_pinned_nor_recorded(forked):
    llmreg = forked()
    (llmreg.dir / "floating.yaml").write_text("name: chat-floating\nmodel: gpt-4o\n")
    assert "not a pinned snapshot" in llmreg("register", "floating.yaml", actor="alice", code=2).stderr
    (llmreg.dir / "latest.yaml").write_text("name: chat-floating\nmodel: claude-3-5-sonnet-latest\n")
    assert "floating alias" in llmreg("register", "latest.yaml", actor="alice", code=2).stderr
    with pytest.raises(BadInput, match="floating alias"):
        llmreg.registry().record_provider_discovery(
            "openai", [{"snapshot": "gpt-4o-latest", "family": "gpt-4o"}], actor="system:provider-watch")


def test_providers_yaml_follows_each_pinned_family(scenario, monkeypatch):
    """The config `llmreg providers discover|qualify` would read: each entry's snapshot is in its family."""
    from evals.providers import load_providers
    from llmreg.registry.entry import load_entry_file

    folder = scenario.llmreg.dir
    monkeypatch.chdir(folder)
    config = load_providers("providers.yaml")
    listed = _module(folder).LISTED
    for provider in config.providers:
        for family in provider.families:
            for pin in family.entries:
                spec, assigned = load_entry_file(folder / "entries" / f"{pin.name}.yaml", import_history=True)
                assert spec.model.provider == provider.name and assigned["status"] == "production"
                assert provider.family_of(spec.model.request_id) == family
                for snapshot in listed[provider.name]:
                    assert provider.family_of(snapshot["snapshot"]).name == snapshot["family"]
