"""Step outputs: byte-deterministic Parquet, all-or-nothing writes, and the directory checksum."""
from __future__ import annotations

import hashlib
import os

import pandas as pd
import pytest

from training.checksums import directory_sha256
from training.corpus import build_corpus, split_corpus
from training.errors import TrainingError
from training.outputs import read_parquet, replaced_directory, write_json, write_parquet


def test_parquet_bytes_depend_only_on_content(tmp_path):
    df = build_corpus(500, seed=3)
    a = write_parquet(df, tmp_path / "a" / "tickets.parquet")
    b = write_parquet(build_corpus(500, seed=3), tmp_path / "b" / "deeper" / "other-name.parquet")
    assert a.read_bytes() == b.read_bytes()
    c = write_parquet(build_corpus(500, seed=4), tmp_path / "c.parquet")
    assert c.read_bytes() != a.read_bytes()


def test_split_parquet_bytes_are_reproducible(tmp_path):
    for run in ("one", "two"):
        train, evals = split_corpus(build_corpus(800, seed=5), 0.25, seed=5)
        write_parquet(train, tmp_path / run / "train.parquet")
        write_parquet(evals, tmp_path / run / "eval.parquet")
    for name in ("train.parquet", "eval.parquet"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()


def test_parquet_round_trip_keeps_values_and_order(tmp_path):
    df = build_corpus(200, seed=1)
    back = read_parquet(write_parquet(df, tmp_path / "t.parquet"))
    assert list(back.columns) == list(df.columns)
    assert back.astype(str).equals(df.astype(str))


def test_failed_parquet_write_leaves_nothing(tmp_path):
    target = tmp_path / "out.parquet"
    bad = pd.DataFrame({"x": [object()]})  # Arrow cannot convert an arbitrary object
    with pytest.raises(Exception):
        write_parquet(bad, target)
    assert os.listdir(tmp_path) == []


def test_failed_parquet_write_keeps_the_previous_file(tmp_path):
    target = write_parquet(build_corpus(50, seed=1), tmp_path / "out.parquet")
    before = target.read_bytes()
    with pytest.raises(Exception):
        write_parquet(pd.DataFrame({"x": [object()]}), target)
    assert target.read_bytes() == before
    assert os.listdir(tmp_path) == ["out.parquet"]


def test_json_is_sorted_and_stable(tmp_path):
    path = write_json({"b": 1, "a": [1, 2]}, tmp_path / "m" / "metrics.json")
    assert path.read_text() == '{\n  "a": [\n    1,\n    2\n  ],\n  "b": 1\n}\n'


def test_replaced_directory_swaps_only_on_success(tmp_path):
    target = tmp_path / "model"
    with replaced_directory(target) as staging:
        (staging / "w.bin").write_bytes(b"v1")
    assert (target / "w.bin").read_bytes() == b"v1"

    with pytest.raises(RuntimeError):
        with replaced_directory(target) as staging:
            (staging / "w.bin").write_bytes(b"half")
            raise RuntimeError("training died")
    assert (target / "w.bin").read_bytes() == b"v1"
    assert sorted(os.listdir(tmp_path)) == ["model"]

    with replaced_directory(target) as staging:
        (staging / "other.bin").write_bytes(b"v2")
    assert os.listdir(target) == ["other.bin"]
    assert sorted(os.listdir(tmp_path)) == ["model"]


def _expected_digest(files: dict[str, bytes]) -> str:
    """The documented format, written out independently: framed path, size, bytes, sorted by path."""
    h = hashlib.sha256()
    for rel in sorted(files):
        name = rel.encode()
        h.update(len(name).to_bytes(8, "big") + name + len(files[rel]).to_bytes(8, "big") + files[rel])
    return h.hexdigest()


def _tree(root, files):
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root


def test_directory_digest_matches_the_documented_format_anywhere(tmp_path):
    files = {"config.json": b"{}", "sub/model.safetensors": b"\x00" * 3000, "a": b""}
    one = _tree(tmp_path / "one", files)
    two = _tree(tmp_path / "elsewhere" / "two", files)
    assert directory_sha256(one) == directory_sha256(two) == _expected_digest(files)


def test_directory_digest_sees_content_and_renames(tmp_path):
    base = directory_sha256(_tree(tmp_path / "a", {"x": b"1", "y": b"2"}))
    assert directory_sha256(_tree(tmp_path / "b", {"x": b"1", "y": b"3"})) != base
    assert directory_sha256(_tree(tmp_path / "c", {"x": b"1", "z": b"2"})) != base
    # Moving bytes across the file boundary must not collide.
    assert directory_sha256(_tree(tmp_path / "d", {"x": b"12", "y": b""})) != base


def test_directory_digest_refuses_a_missing_directory(tmp_path):
    with pytest.raises(TrainingError, match="not a directory"):
        directory_sha256(tmp_path / "nope")
