"""Model cards, checked by parsing them back (no golden files)."""
from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import yaml

from llmreg.registry.card import render_card
from llmreg.registry.entry import parse_entry
from llmreg.registry.gates_config import GatesConfig

from .builders import SEED_001, make_entry

SECTIONS = [
    "## Intended use",
    "## Limitations",
    "## Evaluation",
    "## Fairness",
    "## Training data",
    "## Owner and escalation contact",
    "## Lineage",
    "## Approvals / history",
]
HISTORY = [
    {"seq": 3, "time": "2026-06-11T10:00:00Z", "actor": "bob", "type": "review.recorded", "name": "support-triage", "version": "1.0.0", "env": "prod", "payload": {"decision": "approve", "notes": "ok | fine"}},
    {"seq": 4, "time": "2026-06-11T11:00:00Z", "actor": "carol", "type": "approval.granted", "name": "support-triage", "version": "1.0.0", "env": "prod", "payload": {"stage": "production"}},
    {"seq": 5, "time": "2026-06-12T10:00:00Z", "actor": "rm", "type": "stage.promoted", "name": "support-triage", "version": "1.0.0", "env": "prod", "payload": {"stage": "staging"}},
]


def split(card: str) -> tuple[dict, str]:
    """Front matter is the block between the first two lines that are exactly '---'."""
    lines = card.split("\n")
    assert lines[0] == "---"
    end = lines.index("---", 1)
    return yaml.safe_load("\n".join(lines[1:end])), "\n".join(lines[end + 1 :])


def metric_values(front: dict) -> dict[str, float]:
    (index,) = front["model-index"]
    return {m["name"]: m["value"] for result in index["results"] for m in result["metrics"]}


def test_front_matter_is_yaml_with_the_eval_numbers():
    entry = make_entry()
    front, _ = split(render_card(entry, statuses={"prod": "staging", "eu": "canary"}, history=HISTORY))
    assert front["license"] == "apache-2.0" and front["library_name"] == "peft"
    assert front["base_model"] == "acme/tiny-llama"
    assert {"llm-registry", "provider:hf", "family:triage", "app:support"} <= set(front["tags"])
    assert metric_values(front) == {"overall": 0.94, "segment:en": 0.95, "segment:es": 0.91, "latency_ms": 812.5}
    result = front["model-index"][0]["results"][0]
    assert result["dataset"] == {"name": "triage-eval-v4", "type": "triage-eval-v4", "revision": "4.1"}
    registry = front["llm_registry"]
    assert (registry["version"], registry["digest"], registry["author"]) == ("1.0.0", entry.spec.digest, "alice")
    assert registry["statuses"] == {"prod": "staging", "eu": "canary"}


def test_body_has_every_section_in_order_with_the_facts():
    _, body = split(render_card(make_entry(), statuses={"prod": "staging"}, history=HISTORY))
    positions = [body.index(section) for section in SECTIONS]
    assert positions == sorted(positions)
    assert body.startswith("\n# support-triage 1.0.0\n")
    assert "Triage of inbound support tickets" in body and "English and Spanish only" in body
    assert "| en | 0.95 |" in body and "| es | 0.91 |" in body
    assert "Largest segment gap 0.040 (es 0.91 vs en 0.95): within the bound 0.05 (entry gates.fairness_max_gap)." in body
    assert "| train | md5:0f343b0931126a20f133d67c2b018a3b |" in body and "**size**: 12000" in body
    assert "Owner: team-support" in body and "Escalation contact: support-ml@example.com" in body
    assert "| adapter | adapter | " + "c" * 64 + " | 1024 |" in body
    assert "Reviewed by: bob. Approved by: carol." in body
    assert "decision=approve; notes=ok \\| fine" in body  # a pipe cannot break the table


def test_fairness_section_flags_a_gap_over_the_bound():
    entry = make_entry(gates=None)
    _, body = split(render_card(entry, statuses={}, history=[], gates=GatesConfig(fairness_max_gap=0.02)))
    assert "EXCEEDS the bound 0.02 (gates.yaml fairness_max_gap)" in body


def test_fairness_section_shows_the_bound_the_gate_applies():
    entry = make_entry(gates=None)
    _, body = split(render_card(entry, statuses={}, history=[]))
    assert "within the bound 0.1 (built-in default)" in body  # no gates file: not credited to one
    _, body = split(render_card(entry, statuses={}, history=[], fairness_bound=(0.03, "suite triage-eval-v4@4.1 fairness.max_gap")))
    assert "EXCEEDS the bound 0.03 (suite triage-eval-v4@4.1 fairness.max_gap)" in body


def test_registration_line_names_the_bump_kind_once():
    entry = dataclasses.replace(make_entry(), version="1.1.0", bump="minor", bump_reason="minor: prompt_ref changed", previous="1.0.0")
    _, body = split(render_card(entry, statuses={}, history=[]))
    assert "(minor: prompt_ref changed)" in body and "minor: minor:" not in body
    override = dataclasses.replace(entry, bump="override", bump_reason="explicit version 3.0.0 (diff implies minor: prompt_ref changed)")
    assert "(override: explicit version 3.0.0 (diff implies minor: prompt_ref changed))" in render_card(override, statuses={}, history=[])


def test_newer_eval_records_are_listed_and_drive_the_segment_table():
    record = {"seq": 9, "type": "eval.recorded", "version": "1.0.0", "payload": {"suite": "triage-eval-v4", "score": 0.97, "run": "r2", "segments": {"en": 0.98, "es": 0.90}}}
    front, body = split(render_card(make_entry(), statuses={}, history=[record]))
    scores = [m["value"] for r in front["model-index"][0]["results"] for m in r["metrics"] if m["name"] == "overall"]
    assert scores == [0.94, 0.97]
    assert "By segment (eval record seq 9, run r2):" in body and "| es | 0.9 |" in body


def test_minimal_seed_entry_renders_with_visible_gaps():
    spec, _ = parse_entry(SEED_001)
    front, body = split(render_card(make_entry(spec), statuses={}, history=[]))
    assert metric_values(front) == {"overall": 0.94}
    assert front["library_name"] == "openai" and "base_model" not in front
    for key in ("intended_use", "limitations", "training_data", "contact"):
        assert f"add `card.{key}` to the entry" in body
    assert "Not assessed: fewer than two segment scores. The bound is 0.1" in body
    assert "Status: not promoted anywhere." in body


def test_events_may_be_objects_and_odd_text_stays_parseable():
    card = {"intended_use": "Triage.\n---\nlicense: evil", "license": "mit: or not", "tags": ["a: b # c"]}
    entry = make_entry(labels={"app": "a:b#c", "quote": "'\"---"}, card=card)
    events = [SimpleNamespace(seq=1, time="t", actor="bob", type="approval.granted", env="prod", version="1.0.0", payload={"stage": "production"})]
    front, body = split(render_card(entry, statuses={"prod": "canary"}, history=events))
    assert front["license"] == "mit: or not"
    assert {"app:a:b#c", "quote:'\"---", "a: b # c"} <= set(front["tags"])
    assert "license: evil" in body  # stays in the body, after the front matter
    assert "Approved by: bob." in body


# The store's eval.recorded payload: the caller's raw report (here evals/run.py's EvalReport
# shape: accuracy, segment_scores, suite as a mapping, no "score") next to its EvalRef form.
RAW_REPORT = {"run_id": "eval-run-77", "accuracy": 0.96, "segment_scores": {"en": 0.97, "es": 0.95},
              "suite": {"name": "triage-eval-v5", "version": "5.0", "threshold": 0.9}, "passed": True, "n": 400}
STORED_EVAL = {"seq": 11, "time": "2026-06-13T10:00:00Z", "actor": "ci", "type": "eval.recorded", "name": "support-triage", "version": "1.0.0", "env": None,
               "payload": {"report": RAW_REPORT, "eval": {"suite": "triage-eval-v5", "suite_version": "5.0", "score": 0.96, "run": "eval-run-77",
                                                          "segments": {"en": 0.97, "es": 0.95}, "threshold": 0.9}}}


def test_stored_eval_records_are_read_from_their_normalised_form():
    front, body = split(render_card(make_entry(), statuses={}, history=[STORED_EVAL]))
    sources = [r["source"]["name"] for r in front["model-index"][0]["results"]]
    assert sources == ["entry, run run-2026-06-10", "eval record seq 11, run eval-run-77"]
    assert front["model-index"][0]["results"][1]["dataset"] == {"name": "triage-eval-v5", "type": "triage-eval-v5", "revision": "5.0"}
    assert "By segment (eval record seq 11, run eval-run-77):" in body  # the newest record drives the table
    assert "| es | 0.95 |" in body
    assert "suite=triage-eval-v5; score=0.96" in body  # the history row shows the eval, not an empty detail


def test_raw_report_without_a_normalised_form_is_still_read():
    legacy = dict(STORED_EVAL, payload={"report": {"suite": "triage-eval-v4", "score": 0.91, "run": "r9"}})
    odd = dict(STORED_EVAL, seq=12, payload={"report": RAW_REPORT})  # no score, suite is a mapping: not listed
    front, _ = split(render_card(make_entry(), statuses={}, history=[legacy, odd]))
    assert [r["source"]["name"] for r in front["model-index"][0]["results"]] == ["entry, run run-2026-06-10", "eval record seq 11, run r9"]


def test_history_tells_a_pulled_canary_from_a_production_restore():
    pulled = {"seq": 20, "time": "2026-06-14T10:00:00Z", "actor": "system:slo-guard", "type": "stage.rolled_back", "name": "support-triage",
              "version": "1.0.0", "env": "prod", "payload": {"stage": "canary", "from": "1.0.0", "reason": "error_rate 0.09 > 0.02"}}
    restored = dict(pulled, seq=21, actor="rm", payload={"stage": "production", "from": "2.0.0", "reason": ""})
    _, body = split(render_card(make_entry(), statuses={"prod": "production"}, history=[pulled, restored]))
    rows = {line.split(" | ")[0]: line for line in body.splitlines() if line.startswith("| 2")}
    assert rows["| 20"].endswith("| pulled from canary; reason=error_rate 0.09 > 0.02 |")
    assert rows["| 21"].endswith("| restored to production (replacing 2.0.0) |")
