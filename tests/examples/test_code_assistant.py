"""code-assistant: two entries released together, exposed cohort by cohort through the canary mechanism.

Runs examples/code-assistant/run.sh and checks what it printed and the registry it left."""
from __future__ import annotations

from llmreg.registry.documents import read_document

EXAMPLE = "code-assistant"
COMPLETE, CHAT = "code-assistant-complete", "code-assistant-chat"
COHORTS = ("internal", "early-access", "everyone")


def _held(reg, name: str, env: str, stage: str):
    """(version, weight) holding `stage` of `env`, or None."""
    held = [(p.version, p.weight) for p in reg.pointers(name, env) if p.stage == stage]
    return held[0] if held else None


def _pair(reg, env: str, stage: str):
    return tuple(_held(reg, name, env, stage) for name in (COMPLETE, CHAT))


def test_release_train_reaches_internal_testers_first_and_moves_as_a_pair(scenario):
    rollout = read_document(scenario.llmreg.dir / "rollout.yaml", "rollout")
    assert tuple(c["env"] for c in rollout["cohorts"]) == COHORTS and rollout["entries"] == [COMPLETE, CHAT]
    # a new code model snapshot (major) and the prompt that goes with it (minor), one release train
    assert scenario.step("register entry-complete-2.0.0.yaml").output == (
        f"registered {COMPLETE}@2.0.0 (major: model.id, model.snapshot changed)")
    assert scenario.step("register entry-chat-1.1.0.yaml").output == (
        f"registered {CHAT}@1.1.0 (minor: prompt_ref, prompt_sha256 changed)")
    reg = scenario.llmreg.registry()
    trains = {reg.get(name, version).spec.labels["release-train"] for name, version in ((COMPLETE, "2.0.0"),
                                                                                       (CHAT, "1.1.0"))}
    assert trains == {"2026.07"}

    # what each cohort gets now, as the script's resolve steps print it
    served = {(s.command.split()[1], s.command.split()[3]): s.output.split()[0] for s in scenario.steps
              if s.command.startswith("resolve ") and s.command.count("--") == 1}
    assert served == {(COMPLETE, "internal"): f"{COMPLETE}@2.0.0", (CHAT, "internal"): f"{CHAT}@1.1.0",
                      (COMPLETE, "early-access"): f"{COMPLETE}@1.0.0", (CHAT, "early-access"): f"{CHAT}@1.0.0",
                      (COMPLETE, "everyone"): f"{COMPLETE}@1.0.0", (CHAT, "everyone"): f"{CHAT}@1.0.0"}
    canary = scenario.step(f"resolve {COMPLETE} --env early-access --stage canary").output.splitlines()[0]
    assert canary.startswith(f"{COMPLETE}@2.0.0  (canary in early-access") and canary.endswith("weight 0.25)")
    assert _pair(reg, "internal", "production") == (("2.0.0", None), ("1.1.0", None))
    assert _pair(reg, "early-access", "canary") == (("2.0.0", 0.25), ("1.1.0", 0.25))
    assert _pair(reg, "everyone", "canary") == (None, None)
    assert "nothing holds canary" in scenario.llmreg.refused("resolve", COMPLETE, "--env", "everyone", "--stage",
                                                             "canary")

    # every canary promotion of the train names its cohort; internal testers came first, at full weight
    promotions = [e for e in reg.events(types=["stage.promoted"])
                  if e.payload["stage"] == "canary" and e.version in ("2.0.0", "1.1.0")]
    assert [(e.env, e.name) for e in promotions] == [("internal", COMPLETE), ("internal", CHAT),
                                                     ("early-access", COMPLETE), ("early-access", CHAT)]
    assert all(e.evidence["attached"]["cohort"] == e.env for e in promotions)
    assert [e.payload["weight"] for e in promotions] == [1.0, 1.0, 0.25, 0.25]


def test_a_cohorts_gates_are_its_own_and_pulling_a_canary_pulls_the_pair(forked):
    llmreg = forked()
    new = {COMPLETE: "2.0.0", CHAT: "1.1.0"}
    # without a review in `everyone`, neither entry reaches its canary there
    for name, version in new.items():
        llmreg("promote", f"{name}@{version}", "--to", "staging", "--env", "everyone", actor="ci-bot")
        assert "review" in llmreg.refused("promote", f"{name}@{version}", "--to", "canary", "--env", "everyone",
                                          actor="dana")
    assert _pair(llmreg.registry(), "everyone", "canary") == (None, None)

    # pulling the early-access canary pulls the pair; that cohort is back on 2026.05 only
    for name in new:
        llmreg("rollback", name, "--env", "early-access", "--stage", "canary", "--reason", "latency", actor="dana")
    assert _pair(llmreg.registry(), "early-access", "canary") == (None, None)
    assert llmreg.version_at(COMPLETE, env="early-access") == "1.0.0"
    assert llmreg.version_at(COMPLETE, env="internal") == "2.0.0"
