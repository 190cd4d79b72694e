"""ArtifactStore.remove: gc removes a stored copy, never one a kept version references."""
from __future__ import annotations

import os

import pytest

from llmreg.registry.artifacts import ArtifactStore
from llmreg.registry.errors import Refused


@pytest.fixture
def store(tmp_path):
    return ArtifactStore(tmp_path / "store")


def test_removes_a_file_and_a_read_only_directory_and_leaves_no_temporary(store, tmp_path):
    (tmp_path / "f.bin").write_bytes(b"weights")
    tree = tmp_path / "adapter"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "a.safetensors").write_bytes(b"x" * 10)
    refs = [store.put(tmp_path / "f.bin", "f"), store.put(tree, "adapter")]
    for ref in refs:
        assert store.remove(ref.sha256, keep=set()) is True
        assert not store.contains(ref.sha256)
        assert store.remove(ref.sha256, keep=set()) is False  # already gone
    assert os.listdir(os.path.join(store.root, ".tmp")) == []


def test_a_digest_a_kept_version_references_is_refused_and_stays(store, tmp_path):
    (tmp_path / "f.bin").write_bytes(b"weights")
    ref = store.put(tmp_path / "f.bin", "f")
    with pytest.raises(Refused, match="still referenced"):
        store.remove(ref.sha256, keep={ref.sha256})
    assert store.verify(ref).ok


def test_remove_on_an_fsspec_store():
    store = ArtifactStore("memory://gc-test")
    import tempfile

    with tempfile.NamedTemporaryFile() as fh:
        fh.write(b"abc")
        fh.flush()
        ref = store.put(fh.name, "f")
    assert store.contains(ref.sha256)
    assert store.remove(ref.sha256, keep=()) is True and not store.contains(ref.sha256)
