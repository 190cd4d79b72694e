"""speech-transcription: non-text artifacts, per-accent eval with a fairness bound, rollout per region.

Runs examples/speech-transcription/run.sh and checks what it printed and the registry it left."""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import stat
from pathlib import Path

from llmreg.registry.artifacts import hash_path
from llmreg.registry.documents import read_document

EXAMPLE = "speech-transcription"
NAME = "transcribe"
REGIONS = ("eu", "us", "apac")


def test_fairness_bound_blocks_the_unfair_version(scenario):
    folder = scenario.llmreg.dir
    gates = read_document(folder / "gates.yaml", "gates")
    suite = read_document(folder / "evals/asr-eval.yaml", "suite")
    assert suite["fairness"]["max_gap"] == 0.06 and "fairness_max_gap" not in gates  # one bound, in the suite
    reg = scenario.llmreg.registry()
    kinds = {a.name: a.kind for a in reg.get(NAME, "1.0.0").spec.artifacts}
    assert kinds == {"acoustic-model": "acoustic-model", "lm-policy": "policy"}

    # 1.1.0 scores above the threshold, but its eval failed the suite's fairness check (en-IN
    # trails en-US by 0.11 > 0.06): staging is refused on the report's own verdict, before any traffic
    assert scenario.step("register entry-1.1.0.yaml").output.startswith(f"registered {NAME}@1.1.0 (minor: ")
    report = json.loads((folder / "reports/eval-1.1.0.json").read_text())
    assert report["accuracy"] >= suite["threshold"] and report["failed_checks"] == ["fairness"]
    reason = scenario.step(f"promote {NAME}@1.1.0 --to staging --env eu", refused=True).output
    assert "score 0.92 >= threshold 0.88" in reason and "failed its own suite checks: fairness" in reason
    failed = [e for e in reg.events(name=NAME, env="eu") if e.type == "gate.failed" and e.version == "1.1.0"]
    assert [e.payload["gate"] for e in failed] == ["eval_threshold"]
    assert failed[0].evidence["failed_checks"] == ["fairness"] and failed[0].evidence["report_passed"] is False
    assert reg.status(NAME).of("1.1.0", "eu") == "development"


def test_a_new_model_and_policy_roll_out_region_by_region(scenario):
    assert scenario.step("register entry-1.2.0.yaml").output.startswith(f"registered {NAME}@1.2.0 (minor: ")
    diff = scenario.diff(f"diff {NAME}@1.0.0 {NAME}@1.2.0")
    minor = {path.rsplit(".", 1)[0] if path.startswith("artifacts.") else path
             for path, level in diff.items() if level == "minor" and path != "bump"}
    assert minor == {"artifacts.acoustic-model", "artifacts.lm-policy", "policy_ref", "datasets.train"}
    # the canary fairness gate applies the registered suite's bound (no gates.yaml value needed)
    reg = scenario.llmreg.registry()
    fairness = [e for e in reg.events(name=NAME, env="eu")
                if e.type == "gate.passed" and e.version == "1.2.0" and e.payload["gate"] == "fairness"]
    assert fairness[0].evidence["bound"] == 0.06
    assert fairness[0].evidence["bound_source"] == "suite asr-eval@2.0.0 fairness.max_gap"

    served = {s.command.split()[-1]: s.output for s in scenario.steps
              if s.command in [f"resolve {NAME} --env {region}" for region in REGIONS]}
    assert {region: output.split()[0] for region, output in served.items()} == {
        "eu": f"{NAME}@1.2.0", "us": f"{NAME}@1.0.0", "apac": f"{NAME}@1.0.0"}
    assert "policy_ref: lm-policy@1.1.0" in served["eu"]
    canary = scenario.step(f"resolve {NAME} --env us --stage canary").output
    assert canary.startswith(f"{NAME}@1.2.0  (canary in us") and "weight 0.1)" in canary.splitlines()[0]
    assert "nothing holds canary" in scenario.llmreg.refused("resolve", NAME, "--env", "apac", "--stage", "canary")


def test_a_changed_acoustic_model_is_refused_by_name_before_production(forked):
    llmreg = forked()
    acoustic = llmreg.registry().get(NAME, "1.2.0").spec.artifacts[0]
    stored = Path(llmreg.artifacts, "sha256", acoustic.sha256[:2], acoustic.sha256)
    assert hash_path(stored)[0] == acoustic.sha256
    os.chmod(stored, stat.S_IRUSR | stat.S_IWUSR)
    stored.write_bytes(stored.read_bytes()[:-2] + b"\0\0")
    llmreg("evidence", f"{NAME}@1.2.0", "reports/canary-slo.yaml", "--kind", "canary_slo", "--env", "us",
           actor="system:slo-guard")
    llmreg("approve", f"{NAME}@1.2.0", "--to", "production", "--env", "us", actor="bob")
    llmreg("approve", f"{NAME}@1.2.0", "--to", "production", "--env", "us", actor="dana")
    reason = llmreg.refused("promote", f"{NAME}@1.2.0", "--to", "production", "--env", "us", actor="dana")
    assert "integrity check failed" in reason and "'acoustic-model'" in reason
    assert llmreg.version_at(NAME, env="us") == "1.0.0"


def test_model_files_are_the_generator_output_the_entries_pin(scenario):
    folder = scenario.llmreg.dir
    spec = importlib.util.spec_from_file_location("speech_artifacts_example", folder / "make_artifacts.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    pinned = {}
    for entry_file in ("entry-1.0.0.yaml", "entry-1.1.0.yaml", "entry-1.2.0.yaml"):
        entry = read_document(folder / entry_file, "entry")
        pinned[entry["model"]["uri"]] = entry["model"]["sha256"]
        pinned.update({a["uri"]: a["sha256"] for a in entry["artifacts"] if a["kind"] == "acoustic-model"})
    assert set(pinned) == set(module.FILES)
    for rel, meta in module.FILES.items():
        assert hashlib.sha256(module.model_bytes(meta)).hexdigest() == pinned[rel], rel
