"""rag-stack: embedder + index (content hash) + reranker + generator + prompt as one tuple.

Runs examples/rag-stack/run.sh and checks what it printed and the registry it left."""
from __future__ import annotations

import importlib.util
import json
import os
import stat
from pathlib import Path

import yaml

from llmreg.registry.artifacts import hash_path
from llmreg.registry.documents import read_document

EXAMPLE = "rag-stack"
NAME = "kb-answers"
QUESTION = "how long does shipping to japan take"


def _rag(folder: Path):
    spec = importlib.util.spec_from_file_location("rag_stack_example", folder / "rag.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _moved(diff: dict) -> set[str]:
    """The components a diff touches: 'retrieval.index', 'artifacts.retrieval-index', 'model', ..."""
    return {".".join(path.split(".")[:2]) if path.split(".")[0] in ("retrieval", "artifacts") else path.split(".")[0]
            for path in diff if path != "bump"}


def test_index_refresh_is_a_minor_bump_and_diff_names_only_the_index(scenario):
    diff = scenario.diff(f"diff {NAME}@1.0.0 entry-index-2026-07-01.yaml")
    assert diff["bump"] == "minor" and _moved(diff) == {"retrieval.index", "artifacts.retrieval-index"}
    assert scenario.step("register entry-index-2026-07-01.yaml").output.startswith(f"registered {NAME}@1.1.0 (minor: ")
    served = json.loads(scenario.step(f"resolve {NAME} --json").output)
    assert served["version"] == "1.1.0"
    assert served["spec"]["retrieval"]["index"]["ref"] == "kb-index@2026-07-01"

    # a new embedder rebuilds the index: both move, the reranker and generator do not
    assert scenario.step("register entry-embedder-2.0.0.yaml").output.startswith(f"registered {NAME}@1.2.0 (minor: ")
    diff = scenario.diff(f"diff {NAME}@1.1.0 {NAME}@1.2.0")
    assert _moved(diff) == {"retrieval.embedder", "retrieval.index", "artifacts.retrieval-embedder",
                            "artifacts.retrieval-index"}
    assert scenario.step(f"resolve {NAME} --stage staging").output.startswith(f"{NAME}@1.2.0  (staging in default")


def test_a_different_generator_is_a_major_bump(scenario):
    llmreg = scenario.llmreg  # its folder, not a copy: registration recorded the uris there
    other = read_document(llmreg.dir / "entry-embedder-2.0.0.yaml", "entry")
    other["model"] = "claude-3-5-sonnet-20241022"
    (llmreg.dir / "entry-generator.yaml").write_text(yaml.safe_dump(other))
    diff = llmreg("diff", f"{NAME}@1.2.0", "entry-generator.yaml", as_json=True).data
    assert diff["bump"] == "major" and {c["path"].split(".")[0] for c in diff["changes"]} == {"model"}


def test_index_version_is_the_content_hash_of_files_rebuilt_from_the_same_inputs(scenario, tmp_path):
    folder = scenario.llmreg.dir
    rag = _rag(folder)
    for entry_file in ("entry.yaml", "entry-index-2026-07-01.yaml", "entry-embedder-2.0.0.yaml"):
        spec = read_document(folder / entry_file, "entry")
        index = next(a for a in spec["artifacts"] if a["kind"] == "index")
        manifest = read_document(folder / index["uri"] / "manifest.json", "index manifest")
        docs = f"kb/docs-{index['uri'].split('/')[1][:10]}.jsonl"
        embedder = next(a for a in spec["artifacts"] if a["name"] == "retrieval-embedder")["uri"]
        rebuilt = rag.build_index(folder / docs, folder / embedder, tmp_path / entry_file)
        assert hash_path(rebuilt)[0] == index["sha256"] == spec["retrieval"]["index"]["sha256"]
        assert manifest["embedder"] == spec["retrieval"]["embedder"]["ref"]


def test_the_resolved_index_is_the_verified_store_copy(forked):
    """Retrieval runs on the resolved version's index; a tampered index is refused at resolve --verify."""
    llmreg = forked()
    rag = _rag(llmreg.dir)
    reg = llmreg.registry()
    embedder = rag.load_config(llmreg.dir / "embedders/hash-embedder-1.0.0.yaml")
    reranker = rag.load_config(llmreg.dir / "rerankers/overlap-reranker-1.2.0.yaml")
    top = {}
    for version in ("1.0.0", "1.1.0"):
        index = reg.artifacts.locate(reg.get(NAME, version).spec.retrieval["index"]["sha256"])
        assert index is not None and Path(index).is_relative_to(llmreg.artifacts)
        top[version] = rag.search(index, embedder, reranker, QUESTION)[0]["id"]
    assert top == {"1.0.0": "kb-003", "1.1.0": "kb-007"}  # the refreshed index knows APAC shipping

    assert llmreg("resolve", NAME, "--verify", as_json=True).data["version"] == "1.1.0"
    stored = Path(reg.artifacts.locate(reg.get(NAME, "1.1.0").spec.retrieval["index"]["sha256"]), "docs.jsonl")
    os.chmod(stored, stat.S_IRUSR | stat.S_IWUSR)
    stored.write_text(stored.read_text().replace("2 to 4 business days", "2 business days"))
    reason = llmreg.refused("resolve", NAME, "--verify")
    assert "retrieval-index" in reason and "expected sha256" in reason
