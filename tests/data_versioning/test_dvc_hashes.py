"""DVC-compatible hashing: pinned serialisation, then the real DVC 3 CLI (tool venv) as the oracle."""
from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from training.data_versioning import DataVersioningError
from training.dvc_versioning import (
    LocalDVCDataVersioning,
    dvc_dir_md5,
    dvc_file_md5,
    dvc_tree_bytes,
    dvc_version_id,
    version_from_dvc_file,
    version_from_dvc_lock,
)

from .conftest import TOOL_DVC

EMPTY_MD5 = "d41d8cd98f00b204e9800998ecf8427e"

# Names chosen to catch ordering and escaping slips: '-' sorts before '/', uppercase before
# lowercase, non-ASCII is \u-escaped; an empty file and an empty directory; a CRLF text file
# (DVC 2 normalised it, DVC 3 must not); DVC's default ignores (.git, .dvc/, .hg/).
TRICKY_TREE = {
    "a-b.txt": b"dash\n",
    "a/b.txt": b"slash\n",
    "B.txt": b"upper\n",
    "crlf.txt": b"line one\r\nline two\r\n",
    "empty.txt": b"",
    "caf\u00e9/\u65e5\u672c.txt": "unicode\n".encode(),
    "deep/er/still/bin.dat": bytes(range(256)) * 40,
    ".git/HEAD": b"ref: refs/heads/main\n",
    "sub/.dvc/config": b"[core]\n",
    "sub/.hg/store": b"x",
}
IGNORED = {".git/HEAD", "sub/.dvc/config", "sub/.hg/store"}


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (root / "empty-dir").mkdir(parents=True, exist_ok=True)
    return root


def read_tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# -- pure ----------------------------------------------------------------------------


def test_file_hash_is_plain_md5_of_the_bytes(tmp_path: Path) -> None:
    f = tmp_path / "crlf.txt"
    f.write_bytes(b"a\r\nb\r\n")
    assert dvc_file_md5(f) == hashlib.md5(b"a\r\nb\r\n").hexdigest() != hashlib.md5(b"a\nb\n").hexdigest()
    (tmp_path / "e").write_bytes(b"")
    assert dvc_version_id(tmp_path / "e") == "md5:" + EMPTY_MD5


def test_dir_listing_serialisation_is_dvcs_exactly() -> None:
    m1, m2, m3 = "1" * 32, "2" * 32, "3" * 32
    got = dvc_tree_bytes([("b/c", m1), ("b-c", m2), ("\u00e9", m3)])
    expected = (
        f'[{{"md5": "{m2}", "relpath": "b-c"}}, '
        f'{{"md5": "{m1}", "relpath": "b/c"}}, '
        f'{{"md5": "{m3}", "relpath": "\\u00e9"}}]'
    )
    assert got == expected.encode("ascii")
    assert dvc_tree_bytes([]) == b"[]"


def test_dir_hash_skips_dvc_default_ignores_and_empty_dirs(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "d", TRICKY_TREE)
    kept = {k: v for k, v in TRICKY_TREE.items() if k not in IGNORED}
    expected = hashlib.md5(dvc_tree_bytes((k, hashlib.md5(v).hexdigest()) for k, v in kept.items())).hexdigest()
    assert dvc_dir_md5(root) == expected + ".dir"


def test_dir_hash_refuses_what_dvc_would_treat_differently(tmp_path: Path) -> None:
    with_ignore = write_tree(tmp_path / "i", {"x": b"x", "inner/.dvcignore": b"*.tmp\n"})
    with pytest.raises(DataVersioningError, match=".dvcignore"):
        dvc_dir_md5(with_ignore)
    with_link = write_tree(tmp_path / "l", {"x": b"x"})
    (with_link / "link").symlink_to(with_link / "x")
    with pytest.raises(DataVersioningError, match="symlink"):
        dvc_dir_md5(with_link)
    with pytest.raises(DataVersioningError, match="not a directory"):
        dvc_dir_md5(tmp_path / "absent")


def test_dvc_lock_reader_handles_foreach_legacy_and_missing_outs(tmp_path: Path) -> None:
    lock = tmp_path / "dvc.lock"
    lock.write_text(yaml.safe_dump({"schema": "2.0", "stages": {
        "split@train": {"cmd": "x", "outs": [{"path": "data/train", "hash": "md5", "md5": "a" * 32 + ".dir"}]},
        "old": {"cmd": "y", "outs": [{"path": "./legacy.txt", "md5": "b" * 32}]},
    }}))
    assert version_from_dvc_lock(lock, "data/train/") == "md5:" + "a" * 32 + ".dir"
    assert version_from_dvc_lock(lock, "legacy.txt") == "md5-dos2unix:" + "b" * 32
    with pytest.raises(DataVersioningError, match="known outs: data/train, legacy.txt"):
        version_from_dvc_lock(lock, "data/eval")
    with pytest.raises(DataVersioningError, match="dvc repro"):
        version_from_dvc_lock(tmp_path / "nope.lock", "x")
    two = tmp_path / "two.dvc"
    two.write_text(yaml.safe_dump({"outs": [{"path": "a", "md5": "c" * 32, "hash": "md5"},
                                            {"path": "b", "md5": "d" * 32, "hash": "md5"}]}))
    with pytest.raises(DataVersioningError, match="pass out_path"):
        version_from_dvc_file(two)
    assert version_from_dvc_file(two, "b") == "md5:" + "d" * 32


# -- against the real DVC CLI ----------------------------------------------------------


@pytest.fixture
def dvc(tmp_path: Path):
    if not TOOL_DVC.exists():
        pytest.skip(f"DVC tool venv absent ({TOOL_DVC}); create it: python3 -m venv .tools/dvc && "
                    ".tools/dvc/bin/pip install dvc==3.67.1")
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "DVC_SITE_CACHE_DIR": str(tmp_path / ".dvc-site")}
    repo = tmp_path / "repo"
    repo.mkdir()

    def run(*args: str) -> str:
        done = subprocess.run([str(TOOL_DVC), *args], cwd=repo, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"dvc {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    run("init", "--no-scm", "-q")
    return repo, run


@pytest.mark.slow
def test_ids_equal_what_dvc_add_records(dvc) -> None:
    repo, run = dvc
    write_tree(repo / "corpus", TRICKY_TREE)
    (repo / "model.bin").write_bytes(b"\x00\r\n" * 1000)
    (repo / "empty.txt").write_bytes(b"")
    run("add", "-q", "corpus", "model.bin", "empty.txt")

    for name in ("corpus", "model.bin", "empty.txt"):
        recorded = version_from_dvc_file(repo / f"{name}.dvc")
        assert dvc_version_id(repo / name) == recorded, name
    assert version_from_dvc_file(repo / "corpus.dvc").endswith(".dir")
    assert version_from_dvc_file(repo / "empty.txt.dvc") == "md5:" + EMPTY_MD5


@pytest.mark.slow
def test_dvc_lock_outs_match_after_repro_and_caches_are_shared_both_ways(dvc, tmp_path: Path) -> None:
    repo, run = dvc
    write_tree(repo / "corpus", TRICKY_TREE)
    run("stage", "add", "-q", "-n", "prepare", "-d", "corpus", "-o", "prepared", "cp -r corpus prepared")
    run("repro", "-q")
    locked = version_from_dvc_lock(repo / "dvc.lock", "prepared")
    assert locked == dvc_version_id(repo / "prepared") == dvc_version_id(repo / "corpus")

    # DVC wrote the objects; this store reads them back by the id from dvc.lock.
    store = LocalDVCDataVersioning(tmp_path / "store", cache_dir=repo / ".dvc" / "cache")
    kept = {k: v for k, v in TRICKY_TREE.items() if k not in IGNORED}
    assert read_tree(store.get(locked, "", tmp_path / "restored")) == kept

    # This store writes objects; DVC checks them out from a .dvc file naming our version.
    store.begin("interop")
    store.put(write_tree(tmp_path / "fresh", {"x.txt": b"ours\r\n", "y/z.bin": b"\x01\x02"}), "fresh")
    version = store.commit("written by llm-registry")
    (repo / "fresh.dvc").write_text(yaml.safe_dump(
        {"outs": [{"md5": version.removeprefix("md5:"), "hash": "md5", "path": "fresh"}]}))
    run("checkout", "-q", "fresh.dvc")
    # the version covers the logical tree, whose only top-level entry is "fresh/"
    assert read_tree(repo / "fresh") == {"fresh/x.txt": b"ours\r\n", "fresh/y/z.bin": b"\x01\x02"}
