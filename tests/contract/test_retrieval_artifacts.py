"""Retrieval components pinned by {uri, sha256} are content-addressed and verified like artifacts."""
from __future__ import annotations

import os
import shutil

import pytest

from contract.scenario import AUTHOR, NAME, SLO_OK, configure, spec, to_canary
from llmreg.registry.artifacts import hash_tree
from llmreg.registry.errors import IntegrityError


def _index(tmp_path, text: str = "doc-1\tpassword resets\n"):
    index = tmp_path / "index"
    index.mkdir(exist_ok=True)
    (index / "docs.jsonl").write_text(text)
    (index / "vectors.f16").write_bytes(b"\x00\x3c" * 64)
    digest, _ = hash_tree(index)
    return index, digest


def _rag_spec(index, digest, **changes):
    return spec(retrieval={"index": {"ref": "kb-index@2026-06-01", "sha256": digest, "uri": str(index)},
                           "embedder": "kb-embedder@1.0.0"}, **changes)


def test_a_retrieval_index_is_stored_and_verified(open_registry, tmp_path):
    reg = open_registry()
    configure(reg)
    index, digest = _index(tmp_path)
    reg.register(_rag_spec(index, digest), actor=AUTHOR)
    assert reg.artifacts.contains(digest)  # copied at registration: the working copy may go away
    shutil.rmtree(index)
    report = reg.verify(NAME, "1.0.0")
    assert report.ok and [check.name for _, check in report.checks] == ["retrieval.index"]
    to_canary(reg, "1.0.0")
    assert reg.resolve(NAME, stage="canary", verify=True).version == "1.0.0"
    # the stored index changes under the registry: verify, a verified resolve and promotion refuse
    target = os.path.join(reg.artifacts.object_path(digest), "docs.jsonl")
    os.chmod(target, 0o644)
    with open(target, "a") as fh:
        fh.write("doc-2\tinjected\n")
    report = reg.verify(NAME)
    assert not report.ok and report.failures()[0][1].name == "retrieval.index"
    with pytest.raises(IntegrityError, match=f"artifact 'retrieval.index' of {NAME}@1.0.0: expected sha256 {digest}"):
        open_registry().resolve(NAME, stage="canary", verify=True)
    reg.record_evidence(NAME, "1.0.0", "default", "canary_slo", {**SLO_OK, "error_rate": 0.0, "p99_ms": 100, "calls": 500},
                        actor="system:slo-guard")
    reg.approve(NAME, "1.0.0", "production", actor="bob")
    reg.approve(NAME, "1.0.0", "production", actor="carol")
    with pytest.raises(IntegrityError, match="'retrieval.index'"):
        reg.promote(NAME, "1.0.0", "production", actor="release-bot")
    assert reg.status(NAME).of("1.0.0") == "canary"


def test_a_wrong_retrieval_checksum_is_refused_at_registration(reg, tmp_path):
    index, _ = _index(tmp_path)
    with pytest.raises(IntegrityError, match="artifact 'retrieval.index' of support-triage: expected sha256 0000"):
        reg.register(_rag_spec(index, "0" * 64), actor=AUTHOR)
    assert reg.versions(NAME) == [] and reg.store.head_seq() == 0


def test_retrieval_refs_without_a_uri_are_recorded_as_before(reg):
    reg.register(spec(retrieval={"index": {"ref": "kb-index@2026-06-01", "sha256": "a" * 64},
                                 "embedder": "kb-embedder@1.0.0"}), actor=AUTHOR)
    assert reg.verify(NAME).checks == ()  # nothing to read the bytes from: nothing is claimed verified
