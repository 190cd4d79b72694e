"""Registration reads every pinned file, every time; refused bytes never reach the store.

Runs on SQLite and PostgreSQL (the `open_registry` fixture): the leak of a refused file,
digest reuse, sizes, symlinks, relative uris, remote uris, temporaries and store modes,
and `verify` naming the copy that differs.
"""
from __future__ import annotations

import hashlib
import os
import stat
import uuid

import pytest

from contract.scenario import AUTHOR, NAME, configure, spec, to_production
from llmreg.registry.artifact_scratch import Scratch, clean_temporaries
from llmreg.registry.artifacts import ArtifactStore, hash_tree
from llmreg.registry.errors import BadInput, IntegrityError


def _secret(tmp_path, mode: int = 0o640):
    """A file standing in for /etc/shadow: readable by its owner and group only."""
    path = tmp_path / "shadow"
    path.write_bytes(b"root:$6$saltsalt$hashhashhash:19000:0:99999:7:::\n")
    os.chmod(path, mode)
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def _with_artifact(uri, sha256, size, name="adapter", kind="adapter", **changes):
    return spec(artifacts=[{"name": name, "uri": str(uri), "sha256": sha256, "size": size, "kind": kind}], **changes)


def _store_files(root) -> list[str]:
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)


def _adapter(tmp_path, content: bytes = b"adapter weights v1"):
    adapter = tmp_path / "adapter"
    adapter.mkdir(exist_ok=True)
    (adapter / "adapter_model.safetensors").write_bytes(content)
    (adapter / "adapter_config.json").write_text('{"r": 8}')
    digest, size = hash_tree(adapter)
    return adapter, digest, size


# ---------------------------------------------------------------------- the leak

def test_a_refused_file_leaves_nothing_in_the_store_and_its_digest_unprinted(open_registry, tmp_path):
    reg = open_registry()
    secret, real = _secret(tmp_path)
    with pytest.raises(IntegrityError) as info:
        reg.register(_with_artifact(secret, "0" * 64, secret.stat().st_size, kind="other", name="weights"),
                     actor=AUTHOR)
    message = str(info.value)
    assert f"expected sha256 {'0' * 64}" in message and "nothing was stored" in message
    assert real not in message and "\n" not in message
    assert not reg.artifacts.contains(real)
    assert _store_files(tmp_path / "artifacts") == []  # no object, no temporary, no lock
    assert reg.store.head_seq() == 0 and reg.versions(NAME) == []


def test_the_cli_refusal_does_not_print_the_real_digest(backend, tmp_path, capsys):
    from llmreg.cli import main

    secret, real = _secret(tmp_path)
    entry = tmp_path / "entry.json"
    import json

    entry.write_text(json.dumps(_with_artifact(secret, "1" * 64, secret.stat().st_size, kind="other",
                                               name="weights")))
    code = main(["register", str(entry), "--store", backend.url, "--artifacts", str(tmp_path / "artifacts"),
                 "--actor", AUTHOR])
    out, err = capsys.readouterr()
    assert code == 1 and real not in out + err and len(err.strip().splitlines()) == 1
    assert "artifacts[0].sha256" in err
    assert _store_files(tmp_path / "artifacts") == []


def test_a_wrong_declared_size_is_refused_before_reading(open_registry, tmp_path):
    reg = open_registry()
    path = tmp_path / "w.bin"
    path.write_bytes(b"13 bytes here")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(IntegrityError, match="expected size 999 bytes.*fix artifacts\\[0\\].size"):
        reg.register(_with_artifact(path, digest, 999, kind="weights", name="w"), actor=AUTHOR)
    assert not reg.artifacts.contains(digest) and reg.store.head_seq() == 0


# ---------------------------------------------------------------------- a digest already stored

def test_a_stored_digest_does_not_excuse_the_uri(open_registry, tmp_path):
    reg = open_registry()
    configure(reg)
    adapter, digest, size = _adapter(tmp_path)
    reg.register(_with_artifact(adapter, digest, size), actor=AUTHOR)
    head = reg.store.head_seq()
    # the same digest again, pointing at nothing: refused, though the bytes are in the store
    with pytest.raises(BadInput, match="artifacts\\[0\\].uri: '/nonexistent' does not exist"):
        reg.register(_with_artifact("/nonexistent", digest, size, params={"max_tokens": 1}), actor=AUTHOR)
    # the declared size must hold too
    with pytest.raises(IntegrityError, match="expected size 999 bytes"):
        reg.register(_with_artifact(adapter, digest, 999, params={"max_tokens": 2}), actor=AUTHOR)
    # other bytes under the stored digest's name
    other = tmp_path / "other"
    other.mkdir()
    (other / "adapter_model.safetensors").write_bytes(b"adapter weights v2")
    (other / "adapter_config.json").write_text('{"r": 8}')
    with pytest.raises(IntegrityError, match=f"expected sha256 {digest}, but"):
        reg.register(_with_artifact(other, digest, size, params={"max_tokens": 3}), actor=AUTHOR)
    assert reg.store.head_seq() == head and reg.versions(NAME) == ["1.0.0"]


def test_a_symlink_out_of_a_directory_artifact_is_refused_naming_it(open_registry, tmp_path):
    reg = open_registry()
    adapter, digest, size = _adapter(tmp_path)
    reg.register(_with_artifact(adapter, digest, size), actor=AUTHOR)  # the digest is now stored
    os.symlink("/etc", adapter / "etc")
    link = str(adapter / "etc")
    with pytest.raises(BadInput, match=f"{link}: symlinks are not allowed inside an artifact directory"):
        reg.register(_with_artifact(adapter, digest, size, params={"max_tokens": 9}), actor=AUTHOR)
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / "a").write_text("a")
    os.symlink("/etc/hostname", fresh / "host")
    with pytest.raises(BadInput, match="host: symlinks are not allowed"):
        reg.register(_with_artifact(fresh, "2" * 64, 1, params={"max_tokens": 10}), actor=AUTHOR)
    assert reg.versions(NAME) == ["1.0.0"]
    assert not os.listdir(tmp_path / "artifacts" / ".tmp")


# ---------------------------------------------------------------------- relative and remote uris

def test_relative_uris_resolve_against_the_entry_file_and_are_recorded_absolute(open_registry, tmp_path,
                                                                                 monkeypatch):
    import json

    reg = open_registry()
    project = tmp_path / "project"
    project.mkdir()
    adapter, digest, size = _adapter(project)
    entry = project / "entry.json"
    entry.write_text(json.dumps(_with_artifact("adapter", digest, size)))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    registered = reg.register_file(entry, actor=AUTHOR)
    assert registered.spec.artifacts[0].uri == str(adapter)
    assert reg.get(NAME, "1.0.0").spec.artifacts[0].uri == str(adapter)
    for folder in (elsewhere, project, tmp_path):  # the same answer from every folder
        monkeypatch.chdir(folder)
        report = reg.verify(NAME)
        assert report.ok and {c.copy for _, c in report.checks} == {"stored", "local"}


def test_a_remote_uri_is_fetched_and_hashed_or_refused_in_one_line(open_registry, tmp_path):
    import fsspec

    reg = open_registry()
    fs = fsspec.filesystem("memory")
    url = f"memory://llmreg-ingest-{uuid.uuid4().hex}/weights.bin"
    fs.pipe(url, b"remote weights")
    digest = hashlib.sha256(b"remote weights").hexdigest()
    try:
        with pytest.raises(IntegrityError, match=f"expected sha256 {'3' * 64}"):
            reg.register(_with_artifact(url, "3" * 64, 14, kind="weights", name="w"), actor=AUTHOR)
        reg.register(_with_artifact(url, digest, 14, kind="weights", name="w"), actor=AUTHOR)
        report = reg.verify(NAME)
        assert report.ok and [c.copy for _, c in report.checks] == ["remote"]
        missing = url + ".gone"
        with pytest.raises(BadInput) as info:
            reg.register(_with_artifact(missing, digest, 14, kind="weights", name="w", params={"max_tokens": 5}),
                         actor=AUTHOR)
        assert info.value.field == "artifacts[0].uri" and "\n" not in str(info.value)
        with pytest.raises(BadInput, match="artifacts\\[0\\].uri: cannot read 'http://127.0.0.1:9/w.bin'"):
            reg.register(_with_artifact("http://127.0.0.1:9/w.bin", digest, 14, kind="weights", name="w",
                                        params={"max_tokens": 6}), actor=AUTHOR)
    finally:
        fs.rm(url.rsplit("/", 1)[0], recursive=True)
    assert reg.versions(NAME) == ["1.0.0"]


# ---------------------------------------------------------------------- verify names the copy

def test_verify_checks_the_stored_copy_and_the_local_file_and_names_the_one_that_differs(open_registry, tmp_path):
    reg = open_registry()
    configure(reg)
    base = tmp_path / "base-model"
    base.mkdir()
    (base / "config.json").write_text('{"layers": 2}')
    model_digest, _ = hash_tree(base)
    adapter, digest, size = _adapter(tmp_path)
    data = _with_artifact(adapter, digest, size, model={"provider": "local", "id": "tiny-llama-2026-06",
                                                        "uri": str(base), "sha256": model_digest})
    reg.register(data, actor=AUTHOR)
    to_production(reg, "1.0.0")
    report = reg.verify(NAME)
    assert report.ok and sorted((c.name, c.copy) for _, c in report.checks) == [
        ("adapter", "local"), ("adapter", "stored"), ("model", "local"), ("model", "stored")]
    # the working copy the gateway loads the base model from changes
    (base / "config.json").write_text('{"layers": 3}')
    bad = reg.verify(NAME).failures()
    assert [(c.name, c.copy) for _, c in bad] == [("model", "local")]
    assert f"the local file {base} differs" in bad[0][1].detail
    with pytest.raises(IntegrityError, match="the local file"):
        reg.resolve(NAME, verify=True)
    (base / "config.json").write_text('{"layers": 2}')
    assert reg.resolve(NAME, verify=True).version == "1.0.0"
    # the stored copy of the adapter changes
    target = os.path.join(reg.artifacts.object_path(digest), "adapter_model.safetensors")
    os.chmod(target, 0o600)
    with open(target, "r+b") as fh:
        fh.write(b"X")
    bad = reg.verify(NAME).failures()
    assert [(c.name, c.copy) for _, c in bad] == [("adapter", "stored")]
    assert "the stored copy" in bad[0][1].detail
    # a removed model working copy fails (the gateway loads it); a removed adapter copy does not
    os.rename(base, tmp_path / "moved")
    assert ("model", "local") in [(c.name, c.copy) for _, c in reg.verify(NAME).failures()]


# ---------------------------------------------------------------------- temporaries and modes

@pytest.mark.parametrize(("source", "stored"), [(0o640, 0o440), (0o600, 0o400), (0o644, 0o440), (0o604, 0o400),
                                                (0o777, 0o440)])
def test_stored_files_are_never_more_readable_than_their_source(tmp_path, source, stored):
    store = ArtifactStore(tmp_path / "artifacts")
    path = tmp_path / "w.bin"
    path.write_bytes(f"bytes {source:o}".encode())
    os.chmod(path, source)
    ref = store.put(path, "w", sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    assert stat.S_IMODE(os.stat(store.object_path(ref.sha256)).st_mode) == stored
    assert stat.S_IMODE(os.stat(tmp_path / "artifacts" / ".tmp").st_mode) == 0o700


def test_directory_objects_keep_their_files_private(tmp_path):
    store = ArtifactStore(tmp_path / "artifacts")
    adapter, digest, _ = _adapter(tmp_path)
    os.chmod(adapter / "adapter_model.safetensors", 0o600)
    os.chmod(adapter, 0o755)
    ref = store.put(adapter, "adapter", sha256=digest)
    obj = store.object_path(ref.sha256)
    assert stat.S_IMODE(os.stat(obj).st_mode) == 0o750
    assert stat.S_IMODE(os.stat(os.path.join(obj, "adapter_model.safetensors")).st_mode) == 0o400
    assert stat.S_IMODE(os.stat(os.path.join(obj, "adapter_config.json")).st_mode) & 0o027 == 0
    assert store.verify(ref).ok


def test_stale_temporaries_are_removed_when_a_store_opens_and_live_ones_kept(tmp_path):
    root = tmp_path / "artifacts"
    tmp = root / ".tmp"
    tmp.mkdir(parents=True)
    for i in range(7):  # what crashes of the old layout left: bare partial files
        (tmp / uuid.uuid4().hex).write_bytes(os.urandom(1000 + i))
    crashed = tmp / "deadbeef"
    (crashed / "sub").mkdir(parents=True)
    (crashed / "sub" / "part").write_bytes(b"partial")
    os.chmod(crashed / "sub", 0o500)
    (tmp / "deadbeef.lock").write_bytes(b"")  # its writer died: nobody holds the lock
    live = Scratch(str(tmp))
    with open(live.path, "wb") as fh:
        fh.write(b"being written")
    try:
        ArtifactStore(root)
        assert sorted(os.listdir(tmp)) == sorted([os.path.basename(live.path), os.path.basename(live.path) + ".lock"])
        assert clean_temporaries(str(tmp)) == 0
    finally:
        live.release()
    assert os.listdir(tmp) == []


def test_a_failed_copy_removes_its_temporary(tmp_path):
    store = ArtifactStore(tmp_path / "artifacts")
    adapter, digest, _ = _adapter(tmp_path)
    os.chmod(adapter / "adapter_config.json", 0o000)
    if os.access(adapter / "adapter_config.json", os.R_OK):
        pytest.skip("running as a user who reads any file (root): cannot make a read fail")
    with pytest.raises(OSError):
        store.put(adapter, "adapter", sha256=digest)
    assert os.listdir(tmp_path / "artifacts" / ".tmp") == []


# ---------------------------------------------------------------------- reproduce: stored copies and eval score

def test_reproduce_checks_the_stored_copies_and_the_rebuilt_eval_score(open_registry, tmp_path):
    import json

    from training.reproduce import check_stored_copies, compare_eval_score

    reg = open_registry()
    adapter, digest, size = _adapter(tmp_path)
    entry = reg.register(_with_artifact(adapter, digest, size), actor=AUTHOR)
    stored, notes = check_stored_copies(entry, reg.artifacts)
    assert [(c.component, c.ok) for c in stored] == [("artifacts[0]", True)] and notes == []
    target = os.path.join(reg.artifacts.object_path(digest), "adapter_config.json")
    os.chmod(target, 0o600)
    with open(target, "a") as fh:
        fh.write(" ")
    [bad] = check_stored_copies(entry, reg.artifacts)[0]
    assert not bad.ok and bad.expected == f"sha256:{digest}" and bad.actual != bad.expected

    tree = tmp_path / "tree"
    (tree / "metrics").mkdir(parents=True)
    (tree / "metrics" / "eval.json").write_text(json.dumps({"tuned": {"accuracy": entry.spec.eval.score}}))
    same, notes = compare_eval_score(entry, tree)
    assert same.ok and notes == []
    (tree / "metrics" / "eval.json").write_text(json.dumps({"tuned": {"accuracy": 0.5}}))
    differs, _ = compare_eval_score(entry, tree)
    assert not differs.ok and (differs.expected, differs.actual) == (str(entry.spec.eval.score), "0.5")
    (tree / "metrics" / "eval.json").unlink()
    missing, notes = compare_eval_score(entry, tree)
    assert not missing.ok and "cannot read the rebuilt score" in notes[0]
