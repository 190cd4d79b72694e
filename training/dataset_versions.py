"""The version ids a pipeline run records for its datasets.

With DVC (the default) a dataset's version is the md5 DVC records for the file in
dvc.lock, so the registry entry and `dvc repro` name the same bytes. With lakeFS configured
(LAKEFS_* settings), the run's files are committed on a run branch and every dataset of the
run is versioned by that lakeFS commit id.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from training.data_versioning import make_data_versioning
from training.dvc_versioning import LocalDVCDataVersioning, dvc_version_id


def record_dataset_versions(files: Mapping[str, str | Path], *, run_id: str,
                            params: Mapping[str, Any] | None = None,
                            env: Mapping[str, str] = os.environ) -> dict[str, str]:
    """Return `{logical name: version id}` for each file, committing to lakeFS when configured."""
    backend = make_data_versioning(params, env)
    if isinstance(backend, LocalDVCDataVersioning):
        return {name: dvc_version_id(path) for name, path in files.items()}
    backend.begin(run_id)
    for name, path in files.items():
        backend.put(Path(path), name)
    commit = backend.commit(f"datasets for run {run_id}", {"run_id": run_id})
    return {name: commit for name in files}
