"""The artifact store contract: a local directory and an fsspec URL behave the same."""
from __future__ import annotations

import hashlib
import os
import uuid

import pytest

from llmreg.registry.artifacts import ArtifactStore, hash_file, hash_location, hash_tree
from llmreg.registry.errors import BadInput, IntegrityError


@pytest.fixture(params=["local", "fsspec-memory"])
def store(request, tmp_path):
    if request.param == "local":
        yield ArtifactStore(tmp_path / "artifacts")
        return
    import fsspec

    root = f"memory://llmreg-test-{uuid.uuid4().hex}"
    yield ArtifactStore(root)
    fs = fsspec.filesystem("memory")
    if fs.exists(root):
        fs.rm(root, recursive=True)


@pytest.fixture
def adapter_dir(tmp_path):
    root = tmp_path / "adapter"
    (root / "nested").mkdir(parents=True)
    (root / "adapter_model.safetensors").write_bytes(os.urandom(300_000))
    (root / "adapter_config.json").write_text('{"r": 8, "alpha": 16}')
    (root / "nested" / "tokenizer.json").write_text("{}")
    return root


def test_put_file_is_content_addressed_and_verifiable(store, tmp_path):
    path = tmp_path / "weights.bin"
    data = os.urandom(1_000_003)
    path.write_bytes(data)
    ref = store.put(path, "weights", kind="weights")
    assert ref.sha256 == hashlib.sha256(data).hexdigest() and ref.size == len(data)
    assert ref.uri.endswith(f"sha256/{ref.sha256[:2]}/{ref.sha256}")
    assert store.contains(ref.sha256)
    assert store.verify(ref).ok
    again = store.put(path, "weights-copy", kind="weights")  # same bytes: stored once
    assert again.sha256 == ref.sha256 and again.uri == ref.uri
    assert list(store.iter_objects()) == [ref.sha256]
    assert hash_location(ref.uri) == (ref.sha256, len(data))


def test_put_directory_matches_the_training_digest(store, adapter_dir):
    from training.checksums import directory_sha256

    ref = store.put(adapter_dir, "adapter", kind="adapter")
    assert ref.sha256 == directory_sha256(adapter_dir) == hash_tree(adapter_dir)[0]
    assert store.verify(ref).ok
    assert store.hash_object(ref.sha256)[0] == ref.sha256


def test_directory_digest_depends_on_names_and_bytes(tmp_path):
    a = tmp_path / "a"
    a.mkdir()
    (a / "x").write_bytes(b"12")
    (a / "y").write_bytes(b"3")
    b = tmp_path / "b"
    b.mkdir()
    (b / "x").write_bytes(b"1")
    (b / "y").write_bytes(b"23")  # same concatenated bytes, different files
    assert hash_tree(a)[0] != hash_tree(b)[0]
    (b / "x").write_bytes(b"12")
    (b / "y").write_bytes(b"3")
    assert hash_tree(a)[0] == hash_tree(b)[0]


def test_verify_names_artifact_expected_and_actual(store, tmp_path):
    path = tmp_path / "w.bin"
    path.write_bytes(b"original")
    ref = store.put(path, "weights")
    tampered = ref.__class__(name=ref.name, uri=ref.uri, sha256="a" * 64, size=ref.size, kind=ref.kind)
    check = store.verify(tampered, owner="app@1.0.0")
    assert not check.ok and check.actual == ref.sha256
    with pytest.raises(IntegrityError, match=f"artifact 'weights' of app@1.0.0: expected sha256 {'a' * 64}, got {ref.sha256}"):
        store.require(tampered, owner="app@1.0.0")


@pytest.mark.parametrize("name", ["../escape", "/etc/passwd", "a/../../b", "nul\x00byte", "back\\slash", "%2e%2e/x", ""])
def test_path_traversal_in_artifact_names_is_refused(store, tmp_path, name):
    path = tmp_path / "w.bin"
    path.write_bytes(b"x")
    with pytest.raises(BadInput) as info:
        store.put(path, name)
    assert info.value.field == "name"
    assert list(store.iter_objects()) == []


def test_symlinks_inside_artifact_directories_are_refused(store, adapter_dir, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("do not ship")
    os.symlink(secret, adapter_dir / "link")
    with pytest.raises(BadInput, match="symlinks are not allowed"):
        store.put(adapter_dir, "adapter")


def test_object_paths_only_accept_digests(store):
    with pytest.raises(BadInput, match="64 lowercase hex"):
        store.object_path("../../etc/passwd")


def test_hash_file_equals_hashlib(tmp_path):
    path = tmp_path / "big.bin"
    data = os.urandom(9 * 1024 * 1024 + 17)  # more than two read buffers, odd tail
    path.write_bytes(data)
    assert hash_file(path) == (hashlib.sha256(data).hexdigest(), len(data))


def test_declared_bytes_that_differ_are_never_stored(store, tmp_path, adapter_dir):
    from llmreg.registry.artifacts import ContentMismatch

    path = tmp_path / "w.bin"
    path.write_bytes(b"the real bytes")
    real = hashlib.sha256(b"the real bytes").hexdigest()
    with pytest.raises(ContentMismatch) as info:
        store.put(path, "w", sha256="0" * 64)
    assert real not in str(info.value) and "nothing was stored" in str(info.value)
    with pytest.raises(ContentMismatch, match="expected size 3 bytes"):
        store.put(path, "w", sha256=real, size=3)
    with pytest.raises(ContentMismatch):
        store.put(adapter_dir, "adapter", sha256="0" * 64)
    assert list(store.iter_objects()) == []
    if store.root.startswith("memory://"):
        import fsspec

        fs = fsspec.filesystem("memory")
        tmp = store.root[len("memory://"):] + "/.tmp"
        assert not fs.exists(tmp) or fs.ls(tmp) == []
    ref = store.put(path, "w", sha256=real, size=14)
    assert list(store.iter_objects()) == [real] and store.verify(ref).ok


def test_a_fifo_is_refused_instead_of_read(store, tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(BadInput, match="not a regular file or directory"):
        store.put(fifo, "pipe")
