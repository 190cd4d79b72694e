"""One contract for every DataVersioning backend: DVC/local (tmp dir) and lakeFS (SDK on the fake)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from training.data_versioning import (
    ConfigError,
    DataVersioning,
    DataVersioningError,
    NoSessionError,
    NothingToCommitError,
    PathNotInVersionError,
    TagConflictError,
    UnknownTagError,
    UnknownVersionError,
    make_data_versioning,
)
from training.dvc_versioning import LocalDVCDataVersioning, dvc_dir_md5
from training.lakefs_versioning import LakeFSDataVersioning

CORPUS = {
    "train.jsonl": b'{"text": "hello"}\n{"text": "world"}\n',
    "eval/cases.jsonl": b'{"q": "2+2", "a": "4"}\r\n',
    "eval/empty.txt": b"",
    "blobs/raw.bin": bytes(range(256)) * 3,
    "caf\u00e9.txt": "d\u00e9j\u00e0 vu\n".encode(),
}


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def read_tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def second_client(store: DataVersioning) -> DataVersioning:
    """Another client on the same backing store, as another process would open it."""
    if isinstance(store, LocalDVCDataVersioning):
        return LocalDVCDataVersioning(store.root, cache_dir=store.cache_dir)
    assert isinstance(store, LakeFSDataVersioning)
    return LakeFSDataVersioning(store.settings)


def test_put_commit_returns_an_id_and_get_restores_exact_bytes(store: DataVersioning, tmp_path: Path) -> None:
    src = write_tree(tmp_path / "src", CORPUS)
    (tmp_path / "notes.md").write_bytes(b"# notes\n")
    store.begin("run1")
    store.put(src, "corpus")
    store.put(tmp_path / "notes.md", "docs/notes.md")
    version = store.commit("corpus v1", {"run_id": "run1"})

    assert isinstance(version, str) and version
    assert read_tree(store.get(version, "corpus", tmp_path / "out" / "corpus")) == CORPUS
    assert store.get(version, "docs/notes.md", tmp_path / "out" / "n.md").read_bytes() == b"# notes\n"
    assert store.get(version, "corpus/eval/empty.txt", tmp_path / "out" / "e").read_bytes() == b""
    whole = read_tree(store.get(version, "", tmp_path / "whole"))
    assert whole == {**{f"corpus/{k}": v for k, v in CORPUS.items()}, "docs/notes.md": b"# notes\n"}


def test_a_version_never_changes_after_later_commits(store: DataVersioning, tmp_path: Path) -> None:
    data = tmp_path / "data.txt"
    data.write_bytes(b"v1\n")
    store.begin("run1")
    store.put(data, "d/data.txt")
    v1 = store.commit("one")
    data.write_bytes(b"v2 changed\n")
    store.put(data, "d/data.txt")
    v2 = store.commit("two")

    assert v1 != v2
    assert store.get(v1, "d/data.txt", tmp_path / "a").read_bytes() == b"v1\n"
    assert store.get(v2, "d/data.txt", tmp_path / "b").read_bytes() == b"v2 changed\n"
    assert store.version_of("d/data.txt") == v2
    # a second client (another process) sees the same immutable content
    assert second_client(store).get(v1, "d/data.txt", tmp_path / "c").read_bytes() == b"v1\n"


def test_put_replaces_everything_under_the_logical_path(store: DataVersioning, tmp_path: Path) -> None:
    store.begin("run1")
    store.put(write_tree(tmp_path / "a", {"x.txt": b"x", "y/z.txt": b"z"}), "ds")
    v1 = store.commit("two files")
    store.put(write_tree(tmp_path / "b", {"x.txt": b"x2"}), "ds")
    v2 = store.commit("one file")

    assert read_tree(store.get(v2, "ds", tmp_path / "o2")) == {"x.txt": b"x2"}
    assert read_tree(store.get(v1, "ds", tmp_path / "o1")) == {"x.txt": b"x", "y/z.txt": b"z"}


def test_later_puts_win_over_earlier_ones_in_the_same_commit(store: DataVersioning, tmp_path: Path) -> None:
    one = tmp_path / "one.txt"
    one.write_bytes(b"single file")
    store.begin("run1")
    store.put(write_tree(tmp_path / "a", {"x.txt": b"from dir", "y.txt": b"y"}), "ds")
    store.put(one, "ds/x.txt")
    store.put(one, "other")  # a file, then a directory at the same path
    store.put(write_tree(tmp_path / "b", {"z.txt": b"z"}), "other")
    store.put(one, "ds/x.txt")  # re-put of an earlier path still lands after the dir put
    store.put(one, "ds2/x.txt")
    store.put(write_tree(tmp_path / "c", {"w.txt": b"w"}), "ds2")  # replaces ds2/x.txt: put order, not path order
    version = store.commit("ordered puts")
    assert read_tree(store.get(version, "", tmp_path / "o")) == {
        "ds/x.txt": b"single file", "ds/y.txt": b"y", "other/z.txt": b"z", "ds2/w.txt": b"w",
    }


def test_identical_content_gives_the_same_id_only_where_ids_are_content_hashes(
    store: DataVersioning, tmp_path: Path
) -> None:
    src = write_tree(tmp_path / "src", CORPUS)
    store.begin("first")
    store.put(src, "corpus")
    v1 = store.commit("first")
    store.begin("second")
    store.put(src, "corpus")
    v2 = store.commit("second, same bytes")

    assert (v1 == v2) is (store.backend == "dvc")
    assert read_tree(store.get(v2, "corpus", tmp_path / "o")) == CORPUS
    if store.backend == "dvc":
        # the snapshot id is exactly DVC's hash of a directory laid out like the version
        assert v1 == "md5:" + dvc_dir_md5(write_tree(tmp_path / "layout", {f"corpus/{k}": v for k, v in CORPUS.items()}))


def test_tags_resolve_and_never_move(store: DataVersioning, tmp_path: Path) -> None:
    f = tmp_path / "f.txt"
    f.write_bytes(b"one")
    store.begin("run1")
    store.put(f, "f.txt")
    v1 = store.commit("one")
    store.tag(v1, "release-1.0.0")
    store.tag(v1, "release-1.0.0")  # same pair again: no-op
    f.write_bytes(b"two")
    store.put(f, "f.txt")
    v2 = store.commit("two")

    assert store.resolve_tag("release-1.0.0") == v1
    with pytest.raises(TagConflictError, match="release-1.0.0"):
        store.tag(v2, "release-1.0.0")
    assert store.resolve_tag("release-1.0.0") == v1
    assert store.get(store.resolve_tag("release-1.0.0"), "f.txt", tmp_path / "o").read_bytes() == b"one"


def test_unknown_ids_tags_and_floating_refs_are_clear_errors(store: DataVersioning, tmp_path: Path) -> None:
    f = tmp_path / "f.txt"
    f.write_bytes(b"x")
    session = store.begin("run1")
    store.put(f, "f.txt")
    version = store.commit("x")
    store.tag(version, "v1")

    with pytest.raises(UnknownTagError, match="nope"):
        store.resolve_tag("nope")
    for bad in ("md5:" + "0" * 32 + ".dir", "0" * 64, "not-a-version"):
        with pytest.raises(UnknownVersionError, match=bad):
            store.get(bad, "f.txt", tmp_path / "o")
        with pytest.raises(UnknownVersionError):
            store.tag(bad, "t2")
    # a branch/session name or a tag is not an immutable version id
    for floating in (session, "v1"):
        with pytest.raises(UnknownVersionError):
            store.get(floating, "f.txt", tmp_path / "o")
    assert not (tmp_path / "o").exists()
    with pytest.raises(PathNotInVersionError, match="missing.txt"):
        store.get(version, "missing.txt", tmp_path / "o")
    with pytest.raises(PathNotInVersionError, match="missing.txt"):
        store.version_of("missing.txt")


def test_writes_need_a_session_and_something_to_commit(store: DataVersioning, tmp_path: Path) -> None:
    f = tmp_path / "f.txt"
    f.write_bytes(b"x")
    assert store.session is None
    with pytest.raises(NoSessionError, match="begin"):
        store.put(f, "f.txt")
    with pytest.raises(NoSessionError):
        store.commit("nothing")
    with pytest.raises(NoSessionError):
        store.version_of("f.txt")
    store.begin("run1")
    with pytest.raises(NothingToCommitError):
        store.commit("nothing put yet")


def test_begin_resumes_a_session_and_can_start_from_a_version(store: DataVersioning, tmp_path: Path) -> None:
    f = tmp_path / "f.txt"
    f.write_bytes(b"base")
    name = store.begin("run1")
    assert store.session == name and "run1" in name
    store.put(f, "f.txt")
    base = store.commit("base")

    other = second_client(store)
    assert other.begin("run1") == name
    assert other.version_of("f.txt") == base

    store.begin("run2", base=base)
    assert store.version_of("f.txt") == base
    g = tmp_path / "g.txt"
    g.write_bytes(b"g")
    store.put(g, "g.txt")
    child = store.commit("adds g")
    assert read_tree(store.get(child, "", tmp_path / "all")) == {"f.txt": b"base", "g.txt": b"g"}
    with pytest.raises(UnknownVersionError):
        store.begin("run3", base="0" * 64)


def test_bad_input_is_refused_before_anything_is_written(store: DataVersioning, tmp_path: Path) -> None:
    f = tmp_path / "f.txt"
    f.write_bytes(b"x")
    with pytest.raises(DataVersioningError, match="run_id"):
        store.begin("has space")
    store.begin("run1")
    for logical in ("/abs", "../up", "a/../../b", ""):
        with pytest.raises(DataVersioningError, match="logical_path"):
            store.put(f, logical)
    with pytest.raises(DataVersioningError, match="does not exist"):
        store.put(tmp_path / "missing", "m")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataVersioningError, match="no files"):
        store.put(tmp_path / "empty", "e")
    store.put(f, "f.txt")
    with pytest.raises(DataVersioningError, match=r"metadata\['n'\]"):
        store.commit("bad metadata", {"n": 1})  # type: ignore[dict-item]
    version = store.commit("ok")
    with pytest.raises(DataVersioningError, match="tag"):
        store.tag(version, "bad tag")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_bytes(b"mine")
    store.put(write_tree(tmp_path / "d", {"a": b"a", "b": b"b"}), "dir")
    v2 = store.commit("dir")
    with pytest.raises(DataVersioningError, match="not an empty directory"):
        store.get(v2, "dir", busy)
    assert read_tree(busy) == {"keep.txt": b"mine"}
    assert sorted(os.listdir(tmp_path / "busy")) == ["keep.txt"]


# -- backend selection ---------------------------------------------------------------


def test_factory_picks_dvc_without_lakefs_settings(tmp_path: Path) -> None:
    dv = make_data_versioning({"data_versioning": {"root": str(tmp_path / "s")}}, env={})
    assert isinstance(dv, LocalDVCDataVersioning) and dv.cache_dir == tmp_path / "s" / "cache"


def test_factory_picks_lakefs_when_settings_are_present(fake_lakefs, tmp_path: Path) -> None:
    env = {"LAKEFS_HOST": fake_lakefs.url, "LAKEFS_ACCESS_KEY_ID": "k", "LAKEFS_SECRET_ACCESS_KEY": "s",
           "LAKEFS_REPOSITORY": "factory-repo", "LAKEFS_STORAGE_NAMESPACE": "mem://factory"}
    dv = make_data_versioning({}, env=env)
    assert isinstance(dv, LakeFSDataVersioning) and dv.settings.api_url == fake_lakefs.url + "/api/v1"
    f = tmp_path / "f"
    f.write_bytes(b"via factory")
    dv.begin("factory")
    dv.put(f, "f")
    assert dv.get(dv.commit("factory"), "f", tmp_path / "o").read_bytes() == b"via factory"


@pytest.mark.parametrize("missing", ["LAKEFS_HOST", "LAKEFS_ACCESS_KEY_ID", "LAKEFS_SECRET_ACCESS_KEY", "LAKEFS_REPOSITORY"])
def test_a_missing_lakefs_variable_is_named(missing: str) -> None:
    env = {"LAKEFS_HOST": "http://127.0.0.1:9", "LAKEFS_ACCESS_KEY_ID": "k", "LAKEFS_SECRET_ACCESS_KEY": "s",
           "LAKEFS_REPOSITORY": "r"}
    del env[missing]
    with pytest.raises(ConfigError, match=f"^{missing} is not set"):
        make_data_versioning({}, env=env)


def test_forcing_lakefs_without_any_setting_names_the_first_variable() -> None:
    with pytest.raises(ConfigError, match="LAKEFS_HOST is not set .*backend is 'lakefs'"):
        make_data_versioning({"data_versioning": {"backend": "lakefs"}}, env={})


def test_factory_rejects_unknown_keys_and_backends() -> None:
    with pytest.raises(ConfigError, match="data_versioning.cache"):
        make_data_versioning({"data_versioning": {"cache": "x"}}, env={})
    with pytest.raises(ConfigError, match="data_versioning.backend"):
        make_data_versioning({"data_versioning": {"backend": "s3"}}, env={})


def test_lakefs_repository_that_does_not_exist_is_a_config_error(fake_lakefs) -> None:
    from .conftest import lakefs_settings

    dv = LakeFSDataVersioning(lakefs_settings(fake_lakefs, storage_namespace=""))
    with pytest.raises(ConfigError, match="LAKEFS_REPOSITORY"):
        dv.begin("r")


def test_unreachable_lakefs_host_is_a_config_error() -> None:
    from training.lakefs_versioning import LakeFSSettings

    # port 9 (discard) on loopback: nothing listens, the connection is refused at once
    dv = LakeFSDataVersioning(LakeFSSettings("http://127.0.0.1:9", "k", "s", "repo"))
    with pytest.raises(ConfigError, match="LAKEFS_HOST"):
        dv.begin("r")
