"""Lineage graphs: structure, and the three exports contain every node."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from types import SimpleNamespace

import pytest

from llmreg.registry.entry import parse_entry
from llmreg.registry.lineage import Edge, build_lineage, to_dot, to_json, to_mermaid

from .builders import SEED_001, make_entry


def event(seq, kind, version="1.0.0", env="prod", name="support-triage", **payload):
    return {"seq": seq, "time": f"2026-06-1{seq % 10}T10:00:00Z", "actor": "rm", "type": kind, "name": name, "version": version, "env": env, "payload": payload}


EVENTS = [
    event(5, "stage.promoted", stage="staging"),
    event(7, "stage.promoted", stage="canary"),
    event(6, "stage.promoted", version="2.0.0", stage="staging"),  # another version
    event(8, "stage.promoted", name="other-app", stage="staging"),  # another entry
    event(9, "review.recorded", decision="approve"),  # not a promotion
    event(12, "stage.rolled_back", version="2.0.0", stage="production", to="1.0.0", **{"from": "2.0.0"}),
]


def reaches(lineage, src, dst) -> bool:
    frontier, seen = [src], set()
    while frontier:
        node = frontier.pop()
        if node == dst:
            return True
        seen.add(node)
        frontier += [e.dst for e in lineage.edges if e.src == node and e.dst not in seen]
    return False


def test_full_chain_from_data_to_promotions():
    entry = make_entry()
    lineage = build_lineage(entry, EVENTS)
    ids = {n.id for n in lineage.nodes}
    assert all(e.src in ids and e.dst in ids for e in lineage.edges), "every edge joins two nodes"
    kinds = {n.kind for n in lineage.nodes}
    assert {"dataset", "base_model", "training_run", "adapter", "tokenizer", "eval", "entry", "prompt", "tools", "policy", "retrieval", "promotion"} <= kinds
    train = "dataset:train:md5:0f343b0931126a20f133d67c2b018a3b"
    base = "model:hf:acme/tiny-llama@0123456789abcdef0123456789abcdef01234567"
    chain = [train, "training:train-42", "artifact:adapter@cccccccccccc", "eval:triage-eval-v4:run-2026-06-10", "entry:support-triage@1.0.0", "event:5", "event:7", "event:12"]
    for src, dst in zip(chain, chain[1:], strict=False):
        assert reaches(lineage, src, dst), f"{src} -> {dst}"
    assert reaches(lineage, base, "training:train-42")
    assert reaches(lineage, "dataset:eval:md5:1f343b0931126a20f133d67c2b018a3b", "eval:triage-eval-v4:run-2026-06-10")
    promotions = [n.id for n in lineage.nodes if n.kind == "promotion"]
    assert promotions == ["event:5", "event:7", "event:12"]  # not 6 or 8 (other version / entry), in log order
    assert lineage.node("training:train-42").attrs["seed"] == 7
    assert lineage.node("event:12").attrs["type"] == "stage.rolled_back"


def test_api_only_entry_has_no_training_node():
    spec, _ = parse_entry(SEED_001)
    lineage = build_lineage(make_entry(spec), [])
    assert {n.kind for n in lineage.nodes} == {"base_model", "eval", "entry", "prompt", "tools"}
    assert reaches(lineage, "model:openai:gpt-5-mini-2026-xx", "entry:support-triage@1.0.0")


def test_events_may_be_objects():
    objects = [SimpleNamespace(**e) for e in EVENTS]
    assert build_lineage(make_entry(), objects) == build_lineage(make_entry(), EVENTS)


def test_json_export_round_trips_and_is_deterministic():
    lineage = build_lineage(make_entry(), EVENTS)
    text = to_json(lineage)
    assert text == to_json(build_lineage(make_entry(), EVENTS))
    data = json.loads(text)
    assert [n["id"] for n in data["nodes"]] == [n.id for n in lineage.nodes]
    assert len(data["edges"]) == len(lineage.edges)


def test_mermaid_declares_every_node_and_edge():
    lineage = build_lineage(make_entry(), EVENTS + [event(13, "stage.promoted", env='e"u<1>', stage="staging")])
    text = to_mermaid(lineage)
    assert text.startswith("flowchart LR\n")
    lines = text.splitlines()
    for i, node in enumerate(lineage.nodes):
        assert f"  %% n{i} = {node.id}" in lines
        declared = [line for line in lines if re.match(rf"^  n{i}[\[\(\{{]", line)]
        assert len(declared) == 1, node.id
        first_line_of_label = node.label.split("\n")[0].replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
        assert first_line_of_label in declared[0]
    assert sum(1 for line in lines if "-->" in line) == len(lineage.edges)
    assert 'e"u' not in text  # quotes are escaped, so labels cannot end early


def test_dot_quotes_every_node_id():
    lineage = build_lineage(make_entry(), EVENTS)
    text = to_dot(lineage)
    assert text.startswith("digraph lineage {") and text.rstrip().endswith("}")
    for node in lineage.nodes:
        assert f'"{node.id}" [label=' in text
    assert text.count(" -> ") == len(lineage.edges)


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz `dot` is not installed (apt-get install graphviz)")
def test_dot_is_accepted_by_graphviz():
    awkward = event(14, "stage.promoted", env='pr"od\\x\nnew', stage="staging")
    text = to_dot(build_lineage(make_entry(), EVENTS + [awkward]))
    done = subprocess.run(["dot", "-Tsvg"], input=text, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert "<svg" in done.stdout and "support&#45;triage@1.0.0" in done.stdout


def test_stored_eval_records_use_the_normalised_eval():
    raw = {"run_id": "eval-run-77", "accuracy": 0.96, "suite": {"name": "triage-eval-v5", "version": "5.0", "threshold": 0.9}, "passed": True}
    normalised = {"suite": "triage-eval-v5", "suite_version": "5.0", "score": 0.96, "run": "eval-run-77", "threshold": 0.9}
    stored = event(11, "eval.recorded", report=raw, eval=normalised)
    lineage = build_lineage(make_entry(), [stored])
    node = lineage.node("eval:triage-eval-v5:eval-run-77")
    assert node.attrs["score"] == 0.96 and node.attrs["suite_version"] == "5.0"
    assert reaches(lineage, node.id, "entry:support-triage@1.0.0")
    assert not [n.id for n in lineage.nodes if n.id.startswith("eval:{")], "a suite mapping never becomes a node id"


def test_a_pulled_canary_is_labelled_as_such_not_as_a_restore():
    pulled = event(20, "stage.rolled_back", stage="canary", reason="error_rate 0.09 > 0.02", **{"from": "1.0.0"})
    restore_to_me = event(21, "stage.rolled_back", stage="production", **{"from": "2.0.0"})
    restore_away = event(22, "stage.rolled_back", version="0.9.0", stage="production", **{"from": "1.0.0"})
    lineage = build_lineage(make_entry(), [event(7, "stage.promoted", stage="canary"), pulled, restore_to_me, restore_away])
    labels = {n.id: n.label.split("\n")[0] for n in lineage.nodes if n.kind == "promotion"}
    assert labels == {
        "event:7": "promoted: canary in prod",
        "event:20": "pulled from canary in prod",
        "event:21": "restored to production in prod by rollback, replacing 2.0.0",
        "event:22": "rolled back out of production in prod (restored 0.9.0)",
    }
    assert lineage.node("event:20").attrs["action"] == "pulled from canary"
    assert lineage.node("event:20").attrs["reason"] == "error_rate 0.09 > 0.02"
    assert Edge("event:7", "event:20", "pulled from canary") in lineage.edges
    assert "pulled from canary in prod" in to_mermaid(lineage) and "pulled from canary in prod" in to_dot(lineage)
