"""speech-transcription: non-text artifacts, per-accent eval with a fairness bound, rollout per region."""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import stat
from pathlib import Path

import yaml

from llmreg.registry.artifacts import hash_path

NAME = "transcribe"
REGIONS = ("eu", "us", "apac")


def _to_canary(llmreg, version: str, region: str) -> None:
    ref = f"{NAME}@{version}"
    llmreg("promote", ref, "--to", "staging", "--env", region, actor="ci-bot")
    llmreg("review", ref, "--env", region, "--notes", "per-accent WER reviewed", actor="carol")
    llmreg("promote", ref, "--to", "canary", "--env", region, "--weight", "0.1", actor="dana")


def _to_production(llmreg, version: str, region: str) -> None:
    ref = f"{NAME}@{version}"
    llmreg("evidence", ref, "reports/canary-slo.yaml", "--kind", "canary_slo", "--env", region,
           actor="system:slo-guard")
    llmreg("approve", ref, "--to", "production", "--env", region, actor="bob")
    llmreg("approve", ref, "--to", "production", "--env", region, actor="dana")
    llmreg("promote", ref, "--to", "production", "--env", region, actor="dana")


def test_fairness_bound_blocks_the_unfair_version_and_regions_roll_out_one_by_one(example):
    llmreg = example("speech-transcription")
    gates = yaml.safe_load((llmreg.dir / "gates.yaml").read_text())
    suite = yaml.safe_load((llmreg.dir / "evals/asr-eval.yaml").read_text())
    assert suite["fairness"]["max_gap"] == 0.06 and "fairness_max_gap" not in gates  # one bound, in the suite
    llmreg("gates", "set", "gates.yaml", actor="admin")
    llmreg("suite", "register", "evals/asr-eval.yaml", actor="admin")

    first = llmreg("register", "entry-1.0.0.yaml", actor="alice", as_json=True).data
    kinds = {a["name"]: a["kind"] for a in first["spec"]["artifacts"]}
    assert kinds == {"acoustic-model": "acoustic-model", "lm-policy": "policy"}
    llmreg("eval", "record", f"{NAME}@1.0.0", "reports/eval-1.0.0.json", actor="ci-bot")
    for region in REGIONS:
        _to_canary(llmreg, "1.0.0", region)
        _to_production(llmreg, "1.0.0", region)

    # 1.1.0 scores above the threshold, but its eval failed the suite's fairness check (en-IN
    # trails en-US by 0.11 > 0.06): staging is refused on the report's own verdict, before any traffic
    second = llmreg("register", "entry-1.1.0.yaml", actor="alice", as_json=True).data
    assert (second["version"], second["bump"]) == ("1.1.0", "minor")
    report = json.loads((llmreg.dir / "reports/eval-1.1.0.json").read_text())
    assert report["accuracy"] >= suite["threshold"] and report["failed_checks"] == ["fairness"]
    llmreg("eval", "record", f"{NAME}@1.1.0", "reports/eval-1.1.0.json", actor="ci-bot")
    reason = llmreg.refused("promote", f"{NAME}@1.1.0", "--to", "staging", "--env", "eu", actor="ci-bot")
    assert "score 0.92 >= threshold 0.88" in reason and "failed its own suite checks: fairness" in reason
    failed = [e for e in llmreg.registry().events(name=NAME, env="eu")
              if e.type == "gate.failed" and e.version == "1.1.0"]
    assert [e.payload["gate"] for e in failed] == ["eval_threshold"]
    assert failed[0].evidence["failed_checks"] == ["fairness"] and failed[0].evidence["report_passed"] is False
    assert llmreg.registry().status(NAME).of("1.1.0", "eu") == "development"

    # 1.2.0: a new acoustic model and LM policy together, a minor bump; staged eu -> us, apac waits
    third = llmreg("register", "entry-1.2.0.yaml", actor="alice", as_json=True).data
    assert (third["version"], third["bump"]) == ("1.2.0", "minor")
    diff = llmreg("diff", f"{NAME}@1.0.0", f"{NAME}@1.2.0", as_json=True).data
    minor = {c["path"].rsplit(".", 1)[0] if c["path"].startswith("artifacts.") else c["path"]
             for c in diff["changes"] if c["level"] == "minor"}
    assert minor == {"artifacts.acoustic-model", "artifacts.lm-policy", "policy_ref", "datasets.train"}
    llmreg("eval", "record", f"{NAME}@1.2.0", "reports/eval-1.2.0.json", actor="ci-bot")
    _to_canary(llmreg, "1.2.0", "eu")
    # the canary fairness gate applies the registered suite's bound (no gates.yaml value needed)
    fairness = [e for e in llmreg.registry().events(name=NAME, env="eu")
                if e.type == "gate.passed" and e.version == "1.2.0" and e.payload["gate"] == "fairness"]
    assert fairness[0].evidence["bound"] == 0.06
    assert fairness[0].evidence["bound_source"] == "suite asr-eval@2.0.0 fairness.max_gap"
    _to_production(llmreg, "1.2.0", "eu")
    _to_canary(llmreg, "1.2.0", "us")

    assert {r: llmreg.version_at(NAME, env=r) for r in REGIONS} == {"eu": "1.2.0", "us": "1.0.0", "apac": "1.0.0"}
    canary = llmreg("resolve", NAME, "--env", "us", "--stage", "canary", as_json=True).data
    assert (canary["version"], canary["weight"]) == ("1.2.0", 0.1)
    assert "nothing holds canary" in llmreg.refused("resolve", NAME, "--env", "apac", "--stage", "canary")
    assert llmreg("resolve", NAME, "--env", "eu", as_json=True).data["spec"]["policy_ref"] == "lm-policy@1.1.0"

    # the binary acoustic model is re-hashed before production: a changed file is refused by name
    acoustic = third["spec"]["artifacts"][0]
    stored = Path(llmreg.artifacts, "sha256", acoustic["sha256"][:2], acoustic["sha256"])
    assert hash_path(stored)[0] == acoustic["sha256"]
    os.chmod(stored, stat.S_IRUSR | stat.S_IWUSR)
    stored.write_bytes(stored.read_bytes()[:-2] + b"\0\0")
    llmreg("evidence", f"{NAME}@1.2.0", "reports/canary-slo.yaml", "--kind", "canary_slo", "--env", "us",
           actor="system:slo-guard")
    llmreg("approve", f"{NAME}@1.2.0", "--to", "production", "--env", "us", actor="bob")
    llmreg("approve", f"{NAME}@1.2.0", "--to", "production", "--env", "us", actor="dana")
    reason = llmreg.refused("promote", f"{NAME}@1.2.0", "--to", "production", "--env", "us", actor="dana")
    assert "integrity check failed" in reason and "'acoustic-model'" in reason
    assert llmreg.version_at(NAME, env="us") == "1.0.0"


def test_model_files_are_the_generator_output_the_entries_pin(example):
    llmreg = example("speech-transcription")
    spec = importlib.util.spec_from_file_location("speech_artifacts_example", llmreg.dir / "make_artifacts.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    pinned = {}
    for entry_file in ("entry-1.0.0.yaml", "entry-1.1.0.yaml", "entry-1.2.0.yaml"):
        entry = yaml.safe_load((llmreg.dir / entry_file).read_text())
        pinned[entry["model"]["uri"]] = entry["model"]["sha256"]
        pinned.update({a["uri"]: a["sha256"] for a in entry["artifacts"] if a["kind"] == "acoustic-model"})
    assert set(pinned) == set(module.FILES)
    for rel, meta in module.FILES.items():
        assert hashlib.sha256(module.model_bytes(meta)).hexdigest() == pinned[rel], rel
