"""code-assistant: two entries released together, exposed cohort by cohort through the canary mechanism."""
from __future__ import annotations

import yaml

COMPLETE, CHAT = "code-assistant-complete", "code-assistant-chat"


def _held(llmreg, name: str, env: str, stage: str):
    """(version, weight) holding `stage` of `env`, or None."""
    pointers = llmreg.registry().pointers(name, env)
    held = [(p.version, p.weight) for p in pointers if p.stage == stage]
    return held[0] if held else None


def _pair(llmreg, env: str, stage: str):
    return tuple(_held(llmreg, name, env, stage) for name in (COMPLETE, CHAT))


def _canary(llmreg, versions: dict, env: str, weight: float) -> None:
    for name, version in versions.items():
        ref = f"{name}@{version}"
        llmreg("promote", ref, "--to", "staging", "--env", env, actor="ci-bot")
        llmreg("review", ref, "--env", env, "--notes", "ok", actor="carol")
        llmreg("promote", ref, "--to", "canary", "--env", env, "--weight", str(weight),
               "--evidence", f"reports/cohort-{env}.yaml", actor="dana")


def _production(llmreg, versions: dict, env: str) -> None:
    for name, version in versions.items():
        ref = f"{name}@{version}"
        llmreg("evidence", ref, "reports/canary-slo.yaml", "--kind", "canary_slo", "--env", env,
               actor="system:slo-guard")
        llmreg("approve", ref, "--to", "production", "--env", env, actor="bob")
        llmreg("approve", ref, "--to", "production", "--env", env, actor="dana")
        llmreg("promote", ref, "--to", "production", "--env", env, actor="dana")


def test_release_train_reaches_internal_testers_first_and_moves_as_a_pair(example):
    llmreg = example("code-assistant")
    rollout = yaml.safe_load((llmreg.dir / "rollout.yaml").read_text())
    cohorts = [(c["env"], c["canary_weight"]) for c in rollout["cohorts"]]
    assert [env for env, _ in cohorts] == ["internal", "early-access", "everyone"]
    assert rollout["entries"] == [COMPLETE, CHAT]
    for suite in ("code-completion-eval.yaml", "code-chat-eval-1.0.0.yaml", "code-chat-eval-1.1.0.yaml"):
        llmreg("suite", "register", f"evals/{suite}", actor="admin")
    for entry_file in ("entry-complete-1.0.0.yaml", "entry-chat-1.0.0.yaml"):
        llmreg("register", entry_file, actor="alice")
    old = {COMPLETE: "1.0.0", CHAT: "1.0.0"}
    for env, _ in cohorts:
        _canary(llmreg, old, env, 0.1)
        _production(llmreg, old, env)

    complete = llmreg("register", "entry-complete-2.0.0.yaml", actor="alice", as_json=True).data
    chat = llmreg("register", "entry-chat-1.1.0.yaml", actor="alice", as_json=True).data
    assert (complete["version"], complete["bump"]) == ("2.0.0", "major")  # a new code model snapshot
    assert (chat["version"], chat["bump"]) == ("1.1.0", "minor")  # the prompt that goes with it
    assert complete["spec"]["labels"]["release-train"] == chat["spec"]["labels"]["release-train"] == "2026.07"
    new = {COMPLETE: "2.0.0", CHAT: "1.1.0"}

    (internal, w_internal), (early, w_early), (everyone, _) = cohorts
    _canary(llmreg, new, internal, w_internal)
    assert _pair(llmreg, internal, "canary") == (("2.0.0", 1.0), ("1.1.0", 1.0))
    assert _pair(llmreg, early, "canary") == (None, None)  # nobody outside the internal cohort yet
    _production(llmreg, new, internal)
    _canary(llmreg, new, early, w_early)

    assert _pair(llmreg, internal, "production") == (("2.0.0", None), ("1.1.0", None))
    assert _pair(llmreg, early, "canary") == (("2.0.0", 0.25), ("1.1.0", 0.25))
    assert _pair(llmreg, early, "production") == (("1.0.0", None), ("1.0.0", None))
    assert _pair(llmreg, everyone, "production") == (("1.0.0", None), ("1.0.0", None))
    assert "nothing holds canary" in llmreg.refused("resolve", COMPLETE, "--env", everyone, "--stage", "canary")

    # every canary promotion of the train names its cohort; internal testers came first
    promotions = [e for e in llmreg.registry().events(types=["stage.promoted"])
                  if e.payload["stage"] == "canary" and e.version in ("2.0.0", "1.1.0")]
    assert [(e.env, e.name) for e in promotions] == [(internal, COMPLETE), (internal, CHAT), (early, COMPLETE),
                                                     (early, CHAT)]
    assert all(e.evidence["attached"]["cohort"] == e.env for e in promotions)

    # a cohort's gates are its own: without a review in `everyone`, neither entry reaches its canary
    for name, version in new.items():
        llmreg("promote", f"{name}@{version}", "--to", "staging", "--env", everyone, actor="ci-bot")
        assert "review" in llmreg.refused("promote", f"{name}@{version}", "--to", "canary", "--env", everyone,
                                          actor="dana")
    assert _pair(llmreg, everyone, "canary") == (None, None)

    # pulling the early-access canary pulls the pair; that cohort is back on 2026.05 only
    for name in new:
        llmreg("rollback", name, "--env", early, "--stage", "canary", "--reason", "latency", actor="dana")
    assert _pair(llmreg, early, "canary") == (None, None)
    assert llmreg.version_at(COMPLETE, env=early) == "1.0.0" and llmreg.version_at(COMPLETE, env=internal) == "2.0.0"
