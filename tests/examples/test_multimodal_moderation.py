"""multimodal-moderation: a policy-only change is a minor bump that must be re-evaluated before promotion.

Runs examples/multimodal-moderation/run.sh and checks what it printed and the registry it left."""
from __future__ import annotations

EXAMPLE = "multimodal-moderation"
NAME = "image-studio"
ELECTION_FAKE = "a photorealistic image of the president signing a fake ballot"


def test_policy_only_change_is_minor_and_needs_its_own_eval(scenario):
    diff = scenario.diff(f"diff {NAME}@1.0.0 entry-policy-1.1.0.yaml")
    assert diff == {"policy_ref": "minor", "artifacts.moderation-policy.sha256": "minor",
                    "artifacts.moderation-policy.size": "minor", "artifacts.moderation-policy.uri": "minor",
                    "bump": "minor"}
    assert scenario.step("register entry-policy-1.1.0.yaml").output.startswith(f"registered {NAME}@1.1.0 (minor: ")
    reg = scenario.llmreg.registry()
    assert reg.get(NAME, "1.1.0").previous == "1.0.0"

    # 1.0.0's eval does not carry over: no eval, no staging; a re-evaluation below the bar neither
    no_eval, low = (s.output for s in scenario.steps_of(f"promote {NAME}@1.1.0 --to staging") if s.refused)
    assert "eval_threshold" in no_eval and "no eval result" in no_eval
    assert "below threshold 0.9" in low
    failed = [e.payload["gate"] for e in reg.events(name=NAME) if e.type == "gate.failed" and e.version == "1.1.0"]
    assert failed == ["eval_threshold", "eval_threshold"]
    staged = scenario.step(f"promote {NAME}@1.1.0 --to staging", refused=False).output
    assert "passed eval_threshold: moderation-eval score 0.95 >= threshold 0.9" in staged
    production, after_rollback = (s.output for s in scenario.steps_of(f"resolve {NAME}"))
    assert production.startswith(f"{NAME}@1.1.0 ") and "policy_ref: moderation-policy@1.1.0" in production
    assert "verified 2 artifact(s): all match" in scenario.step(f"verify {NAME}").output

    # rolling back restores the old policy with the old version
    assert after_rollback.startswith(f"{NAME}@1.0.0 ") and "policy_ref: moderation-policy@1.0.0" in after_rollback


def test_the_pinned_policy_bytes_are_what_moderation_runs(scenario):
    """The policy the registry stored for each version loads as an evals policy, and the new one blocks more."""
    from evals import scorers
    from evals.policy import load_policy

    reg = scenario.llmreg.registry()
    verdicts = {}
    for version in ("1.0.0", "1.1.0"):
        spec = reg.get(NAME, version).spec
        (artifact,) = spec.artifacts
        policy = load_policy(reg.artifacts.locate(artifact.sha256))
        assert policy.ref == spec.policy_ref
        verdicts[version] = scorers.violation_rate([ELECTION_FAKE, "a watercolor lighthouse at dawn"], policy)
    assert verdicts == {"1.0.0": 0.0, "1.1.0": 0.5}
