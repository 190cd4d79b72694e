"""rag-stack: embedder + index (content hash) + reranker + generator + prompt as one tuple."""
from __future__ import annotations

import importlib.util
import os
import stat
from pathlib import Path

import yaml

from llmreg.registry.artifacts import hash_path

NAME = "kb-answers"
QUESTION = "how long does shipping to japan take"


def _rag(llmreg):
    spec = importlib.util.spec_from_file_location("rag_stack_example", llmreg.dir / "rag.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _release(llmreg, version: str) -> None:
    ref = f"{NAME}@{version}"
    llmreg("eval", "record", ref, f"reports/eval-{version}.json", actor="ci-bot")
    llmreg("promote", ref, "--to", "staging", actor="ci-bot")
    llmreg("review", ref, "--notes", "ok", actor="carol")
    llmreg("promote", ref, "--to", "canary", actor="dana")
    llmreg("evidence", ref, "reports/canary-slo.yaml", "--kind", "canary_slo", actor="system:slo-guard")
    llmreg("approve", ref, "--to", "production", actor="bob")
    llmreg("approve", ref, "--to", "production", actor="dana")
    llmreg("promote", ref, "--to", "production", actor="dana")


def _moved(diff: dict) -> set[str]:
    """The components a diff touches: 'retrieval.index', 'artifacts.retrieval-index', 'model', ..."""
    return {".".join(c["path"].split(".")[:2]) if c["path"].split(".")[0] in ("retrieval", "artifacts")
            else c["path"].split(".")[0] for c in diff["changes"]}


def test_index_refresh_is_a_minor_bump_and_diff_names_only_the_index(example):
    llmreg = example("rag-stack")
    llmreg("suite", "register", "evals/kb-answer-eval.yaml", actor="admin")
    llmreg("register", "entry.yaml", actor="alice")
    _release(llmreg, "1.0.0")

    diff = llmreg("diff", f"{NAME}@1.0.0", "entry-index-2026-07-01.yaml", as_json=True).data
    assert diff["bump"] == "minor"
    assert _moved(diff) == {"retrieval.index", "artifacts.retrieval-index"}
    second = llmreg("register", "entry-index-2026-07-01.yaml", actor="alice", as_json=True).data
    assert (second["version"], second["bump"]) == ("1.1.0", "minor")
    _release(llmreg, "1.1.0")
    served = llmreg("resolve", NAME, as_json=True).data
    assert served["version"] == "1.1.0"
    assert served["spec"]["retrieval"]["index"]["ref"] == "kb-index@2026-07-01"

    # a new embedder rebuilds the index: both move, the reranker and generator do not
    third = llmreg("register", "entry-embedder-2.0.0.yaml", actor="alice", as_json=True).data
    assert (third["version"], third["bump"]) == ("1.2.0", "minor")
    diff = llmreg("diff", f"{NAME}@1.1.0", f"{NAME}@1.2.0", as_json=True).data
    assert _moved(diff) == {"retrieval.embedder", "retrieval.index", "artifacts.retrieval-embedder",
                            "artifacts.retrieval-index"}
    llmreg("eval", "record", f"{NAME}@1.2.0", "reports/eval-1.2.0.json", actor="ci-bot")
    llmreg("promote", f"{NAME}@1.2.0", "--to", "staging", actor="ci-bot")
    assert llmreg.version_at(NAME, stage="staging") == "1.2.0" and llmreg.version_at(NAME) == "1.1.0"

    # a different generator is a different system: major
    other = yaml.safe_load((llmreg.dir / "entry-embedder-2.0.0.yaml").read_text())
    other["model"] = "claude-3-5-sonnet-20241022"
    (llmreg.dir / "entry-generator.yaml").write_text(yaml.safe_dump(other))
    diff = llmreg("diff", f"{NAME}@1.2.0", "entry-generator.yaml", as_json=True).data
    assert (diff["bump"], _moved(diff)) == ("major", {"model"})


def test_index_version_is_the_content_hash_of_files_rebuilt_from_the_same_inputs(example, tmp_path):
    llmreg = example("rag-stack")
    rag = _rag(llmreg)
    for entry_file in ("entry.yaml", "entry-index-2026-07-01.yaml", "entry-embedder-2.0.0.yaml"):
        spec = yaml.safe_load((llmreg.dir / entry_file).read_text())
        index = next(a for a in spec["artifacts"] if a["kind"] == "index")
        manifest = yaml.safe_load((llmreg.dir / index["uri"] / "manifest.json").read_text())
        docs = f"kb/docs-{index['uri'].split('/')[1][:10]}.jsonl"
        embedder = next(a for a in spec["artifacts"] if a["name"] == "retrieval-embedder")["uri"]
        rebuilt = rag.build_index(llmreg.dir / docs, llmreg.dir / embedder, tmp_path / entry_file)
        assert hash_path(rebuilt)[0] == index["sha256"] == spec["retrieval"]["index"]["sha256"]
        assert manifest["embedder"] == spec["retrieval"]["embedder"]["ref"]


def test_the_resolved_index_is_the_verified_store_copy(example):
    """Retrieval runs on the resolved version's index; a tampered index is refused at resolve --verify."""
    llmreg = example("rag-stack")
    rag = _rag(llmreg)
    llmreg("suite", "register", "evals/kb-answer-eval.yaml", actor="admin")
    for entry_file in ("entry.yaml", "entry-index-2026-07-01.yaml"):
        llmreg("register", entry_file, actor="alice")
    llmreg("eval", "record", f"{NAME}@1.1.0", "reports/eval-1.1.0.json", actor="ci-bot")
    llmreg("promote", f"{NAME}@1.1.0", "--to", "staging", actor="ci-bot")
    reg = llmreg.registry()
    embedder = rag.load_config(llmreg.dir / "embedders/hash-embedder-1.0.0.yaml")
    reranker = rag.load_config(llmreg.dir / "rerankers/overlap-reranker-1.2.0.yaml")
    top = {}
    for version in ("1.0.0", "1.1.0"):
        spec = reg.get(NAME, version).spec
        index = reg.artifacts.locate(spec.retrieval["index"]["sha256"])
        assert index is not None and Path(index).is_relative_to(llmreg.artifacts)
        top[version] = rag.search(index, embedder, reranker, QUESTION)[0]["id"]
    assert top == {"1.0.0": "kb-003", "1.1.0": "kb-007"}  # the refreshed index knows APAC shipping

    stored = Path(reg.artifacts.locate(reg.get(NAME, "1.1.0").spec.retrieval["index"]["sha256"]), "docs.jsonl")
    os.chmod(stored, stat.S_IRUSR | stat.S_IWUSR)
    stored.write_text(stored.read_text().replace("2 to 4 business days", "2 business days"))
    reason = llmreg.refused("resolve", NAME, "--stage", "staging", "--verify")
    assert "retrieval-index" in reason and "expected sha256" in reason
