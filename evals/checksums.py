"""Content checksums of the artifacts an eval ran on (model dirs, dataset files).

Directory digests are the registry's own (`registry.artifacts.hash_tree`), so the base
and adapter checksums in an eval report are the ones a registry entry records and
verifies at resolve/deploy time: the report can be matched to the entry it certifies.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from registry.artifacts import hash_tree

_CHUNK = 1 << 20


def file_digest(path: str | Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file's bytes; md5 here equals what DVC 3 records for the file."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def directory_sha256(path: str | Path) -> str:
    """The registry's sha256 of a directory tree (framed relative paths, sizes, bytes)."""
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: not a directory; pass the model or adapter directory")
    return hash_tree(root)[0]
