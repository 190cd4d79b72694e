"""support-triage: seed 001's entry through every gate, a prompt revision, a rollback, time travel.

Runs examples/support-triage/run.sh and checks what it printed and the registry it left."""
from __future__ import annotations

import re

from llmreg.registry.documents import read_document

EXAMPLE = "support-triage"
NAME = EXAMPLE


def test_every_gate_refuses_then_passes_on_the_way_to_production(scenario):
    assert scenario.step("register entry.yaml").output == f"registered {NAME}@1.0.0 (first version)"
    model = scenario.llmreg.registry().get(NAME, "1.0.0").spec.model
    assert (model.provider, model.id, model.snapshot) == ("openai", "gpt-5-mini-2026-06-01", "gpt-5-mini-2026-06-01")
    # draft -> staging on the entry's own eval (0.94 >= the registered suite's 0.9)
    assert "passed eval_threshold: triage-eval-v4 score 0.94 >= threshold 0.9" in scenario.step(
        f"promote {NAME}@1.0.0 --to staging").output

    # staging -> canary: the review passes, but the seed's eval has no segments to judge fairness
    refusal = scenario.step(f"promote {NAME}@1.0.0 --to canary --actor", refused=True)
    assert "gate failed" in refusal.output and "fairness: cannot assess fairness" in refusal.output
    assert "passed fairness: segment gap 0.030" in scenario.step(f"promote {NAME}@1.0.0 --to canary --weight").output

    # canary -> production: the author cannot approve; one approver is not enough; an author may not promote
    author = scenario.step(f"approve {NAME}@1.0.0 --to production --actor alice", refused=True)
    assert "alice is the author" in author.output
    one = scenario.step(f"promote {NAME}@1.0.0 --to production --actor dana", refused=True)
    assert "production_approvals: 1 of 2 distinct approvals" in one.output
    assert "forbidden" in scenario.step(f"promote {NAME}@1.0.0 --to production --actor alice", refused=True).output
    prod = scenario.step(f"promote {NAME}@1.0.0 --to production --actor dana", refused=False)
    assert "2 of 2 distinct non-author approvals: bob, dana" in prod.output
    log = scenario.step(f"audit log --name {NAME}").output
    assert f"dana {NAME}@1.0.0 [default] promoted staging -> canary weight 0.1" in log
    assert "audit ok:" in scenario.step("audit verify").output


def test_a_prompt_revision_is_a_minor_bump_naming_only_the_prompt(scenario):
    diff = scenario.step(f"diff {NAME}@1.0.0 entry-prompt-v10.yaml").output
    above_patch = sorted(line.split()[1].rstrip(":") for line in diff.splitlines()
                         if line.split()[0] in ("minor", "major"))
    assert above_patch == ["prompt_ref", "prompt_sha256"] and diff.endswith("implies a minor bump")
    assert scenario.step("register entry-prompt-v10.yaml").output == (
        f"registered {NAME}@1.1.0 (minor: prompt_ref, prompt_sha256 changed)")
    assert scenario.llmreg.registry().get(NAME, "1.1.0").previous == "1.0.0"


def test_rollback_and_time_travel(scenario):
    assert scenario.step(f"rollback {NAME} --reason").output.startswith(
        f"rolled back {NAME} in default: production 1.1.0 -> 1.0.0")
    at = scenario.steps_of(f"resolve {NAME} --env production --at")
    assert [s.output.split()[0] for s in at] == [f"{NAME}@1.0.0", f"{NAME}@1.1.0"]  # what ran at each moment
    current = [s for s in scenario.steps if s.command == f"resolve {NAME} --env production"]
    assert current[0].output.startswith(f"{NAME}@1.0.0  (production in default")
    listed = scenario.step(f"list {NAME}").output
    versions = dict(re.findall(r"^(\d+\.\d+\.\d+) .* default:(\w+)", listed, re.MULTILINE))
    assert versions == {"1.0.0": "production", "1.1.0": "retired"}
    # before the first production promotion, nothing held production
    first = scenario.llmreg.registry().get(NAME, "1.0.0").created_at
    assert "nothing held production" in scenario.llmreg.refused("resolve", NAME, "--at", first)


def test_support_triage_entry_pins_its_prompt_and_tools(scenario):
    """The entry's prompt_sha256 is the hash of the template file it names; tools_ref names the schema file."""
    from llmreg.registry.entry import load_entry_file
    from llmreg.registry.prompts import load_prompt

    folder = scenario.llmreg.dir
    tools = read_document(folder / "tools/triage-tools-v3.yaml", "tools")
    for entry_file, prompt_file in (("entry.yaml", "prompts/triage-prompt-v9.yaml"),
                                    ("entry-prompt-v10.yaml", "prompts/triage-prompt-v10.yaml")):
        spec, _ = load_entry_file(folder / entry_file)
        prompt = load_prompt(folder / prompt_file)
        assert (spec.prompt_ref, spec.prompt_sha256) == (prompt.ref, prompt.sha256)
        assert spec.tools_ref == f"{tools['name']}@{tools['version']}"


def test_a_rollback_drill_before_the_rollback_and_a_gc_dry_run(scenario):
    drill = scenario.step(f"rollback {NAME} --drill").output
    assert drill.startswith(f"rollback drill {NAME} default: ok 1.1.0 -> 1.0.0")
    assert "prompt triage-prompt@v9 found in prompts (sha256 matches)" in drill
    assert "backend_load: hosted model openai:gpt-5-mini-2026-06-01" in drill
    log = scenario.step(f"audit log --name {NAME}").output
    assert f"dana {NAME}@1.0.0 [default] rollback drill 1.1.0 -> 1.0.0: ok" in log
    (event,) = scenario.llmreg.registry().events(types=["rollback.drill"])
    assert [c["name"] for c in event.payload["checks"]] == ["artifacts", "refs", "backend_load"]
    gc = scenario.step("gc --dry-run").output
    assert gc.startswith(f"gc {NAME}: would remove no versions") and "keep 1.1.0: held production" in gc
    assert not scenario.llmreg.registry().events(types=["artifacts.collected"])  # a dry run writes nothing
    assert "Rollback drills" in scenario.llmreg.registry().card(NAME, "1.0.0")


def test_a_notification_waits_in_the_outbox_until_the_receiver_is_up_and_arrives_signed(scenario):
    first = scenario.step("webhooks deliver --once").output
    assert first.startswith("delivered 0, retrying 1") and "9 pending" in first  # receiver down: nothing lost
    assert scenario.step("webhooks deliver --wait").output.startswith("delivered 9, retrying 0, given up 0")
    received = [line for line in scenario.output.splitlines() if line.startswith("delivery ")]
    assert len(received) == 9 and all("signature ok" in line for line in received)
    assert received[0].endswith(f"stage.promoted {NAME}@1.0.0 staging by ci-bot")
    assert received[-1].endswith(f"stage.rolled_back {NAME}@1.0.0 production by dana")
    assert any(" gate.failed " in line for line in received)
    seqs = [int(line.split("#")[1].split()[0]) for line in received]
    assert seqs == sorted(seqs)  # in log order
    log = scenario.llmreg("webhooks", "deliveries", "--json").stdout
    assert '"delivered": 9' in log
    reg = scenario.llmreg.registry()
    (added,) = reg.events(types=["webhook.subscribed"])
    assert added.payload["id"] == "ops-pager" and "/llmreg" not in str(added.payload)  # origin only, no path
