"""Content checksums of the artifacts an eval ran on (model dirs, dataset files).

Directory digests are the registry's own (`llmreg.registry.artifacts.hash_tree`), so the base
and adapter checksums in an eval report are the ones a registry entry records and
verifies at resolve/deploy time: the report can be matched to the entry it certifies.
"""
from __future__ import annotations

from pathlib import Path

from llmreg.registry.artifacts import hash_file, hash_tree


def dataset_version_id(path: str | Path) -> str:
    """`md5:<hex>` of a dataset file: the version id DVC records for it in dvc.lock."""
    return "md5:" + hash_file(path, "md5")[0]


def directory_sha256(path: str | Path) -> str:
    """The registry's sha256 of a directory tree (framed relative paths, sizes, bytes)."""
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: not a directory; pass the model or adapter directory")
    return hash_tree(root)[0]
