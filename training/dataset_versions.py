"""The version ids a pipeline run records for its datasets.

With DVC (the default) a dataset's version is the md5 DVC records for the file in
dvc.lock, so the registry entry and `dvc repro` name the same bytes. With lakeFS configured
(LAKEFS_* settings), each dataset lives on its own branch (`run-dataset-<name>`), and a run
commits it only when its content changed: identical data keeps its commit id, and train and
eval, committed separately, never share one. `tag_release` tags each version a registered
release names.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from training.data_versioning import (
    DataVersioning,
    PathNotInVersionError,
    make_data_versioning,
)
from training.dvc_versioning import LocalDVCDataVersioning, dvc_version_id


def record_dataset_versions(files: Mapping[str, str | Path], *, run_id: str,
                            params: Mapping[str, Any] | None = None,
                            env: Mapping[str, str] = os.environ) -> dict[str, str]:
    """Return `{logical name: version id}` for each file, committing to lakeFS when configured."""
    backend = make_data_versioning(params, env)
    if isinstance(backend, LocalDVCDataVersioning):
        return {name: dvc_version_id(path) for name, path in files.items()}
    return {name: versioned(backend, name, Path(path), run_id) for name, path in files.items()}


def _same_content(backend: DataVersioning, version: str, name: str, path: Path) -> bool:
    with tempfile.TemporaryDirectory(prefix="llmreg-dataset-") as tmp:
        restored = backend.get(version, name, Path(tmp) / "restored")
        return dvc_version_id(restored) == dvc_version_id(path)


def versioned(backend: DataVersioning, name: str, path: Path, run_id: str) -> str:
    """The version id of `path` as dataset `name`: the branch head when it holds the same
    bytes, else a new commit (with the run id and the content's md5 as metadata)."""
    backend.begin(f"dataset-{name}")
    try:
        head = backend.version_of(name)
    except PathNotInVersionError:
        head = None
    if head is not None and _same_content(backend, head, name, path):
        return head
    backend.put(path, name)
    return backend.commit(f"dataset {name} for run {run_id}", {"run_id": run_id, "md5": dvc_version_id(path)})


def tag_release(datasets: Mapping[str, str], release: str, *, params: Mapping[str, Any] | None = None,
                env: Mapping[str, str] = os.environ) -> list[str]:
    """Tag each lakeFS dataset version a release names (`<release>-<role>`); DVC ids need none."""
    backend = make_data_versioning(params, env)
    if isinstance(backend, LocalDVCDataVersioning):
        return []
    tags = []
    for role, version in sorted(datasets.items()):
        if version.startswith("md5:"):
            continue
        tag = f"{release}-{role}".replace("@", "-")
        backend.tag(version, tag)
        tags.append(tag)
    return tags
