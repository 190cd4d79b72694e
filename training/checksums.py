"""Content digests of artifact directories (base model, adapter), as the registry computes them.

The digest is `registry.artifacts.hash_tree`'s: SHA-256 over each file's framed relative
POSIX path, size and bytes in sorted path order, read in chunks. Using the registry's
function (not a copy) means the checksum a training step reports is, by construction,
the one the registry verifies at resolve and deploy time.
"""
from __future__ import annotations

from pathlib import Path

from llmreg.registry.artifacts import hash_tree
from training.errors import TrainingError


def directory_sha256(path: str | Path) -> str:
    """SHA-256 hex digest of the directory tree at `path` (independent of where it lives)."""
    root = Path(path)
    if not root.is_dir():
        raise TrainingError(f"checksum: {root} is not a directory; pass the artifact directory")
    return hash_tree(root)[0]
