"""What a pipeline run records for its datasets, on DVC and on lakeFS (the fake server)."""
from __future__ import annotations

from pathlib import Path

import pytest

from training.dataset_versions import record_dataset_versions, tag_release
from training.lakefs_versioning import LakeFSDataVersioning

from .conftest import lakefs_settings


def _env(settings) -> dict[str, str]:
    return {"LAKEFS_HOST": settings.host, "LAKEFS_ACCESS_KEY_ID": settings.access_key_id,
            "LAKEFS_SECRET_ACCESS_KEY": settings.secret_access_key, "LAKEFS_REPOSITORY": settings.repository,
            "LAKEFS_STORAGE_NAMESPACE": settings.storage_namespace}


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "train.parquet").write_bytes(b"train rows")
    (tmp_path / "eval.parquet").write_bytes(b"eval rows")
    return {"train": tmp_path / "train.parquet", "eval": tmp_path / "eval.parquet"}


def test_lakefs_ids_are_stable_for_identical_data_and_distinct_per_dataset(fake_lakefs, files):
    env = _env(lakefs_settings(fake_lakefs))
    first = record_dataset_versions(files, run_id="r1", env=env)
    assert first["train"] != first["eval"]
    again = record_dataset_versions(files, run_id="r2", env=env)
    assert again == first  # nothing changed: no new commit, same ids
    files["eval"].write_bytes(b"eval rows, relabelled")
    changed = record_dataset_versions(files, run_id="r3", env=env)
    assert changed["train"] == first["train"] and changed["eval"] != first["eval"]


def test_a_registered_release_tags_its_lakefs_dataset_versions(fake_lakefs, files):
    settings = lakefs_settings(fake_lakefs)
    env = _env(settings)
    versions = record_dataset_versions(files, run_id="r1", env=env)
    assert tag_release(versions, "support-triage@1.2.0", env=env) == ["support-triage-1.2.0-eval",
                                                                      "support-triage-1.2.0-train"]
    store = LakeFSDataVersioning(settings)
    assert store.resolve_tag("support-triage-1.2.0-train") == versions["train"]


def test_dvc_ids_are_the_content_md5_and_need_no_tag(files):
    versions = record_dataset_versions(files, run_id="r1", env={})
    assert all(v.startswith("md5:") for v in versions.values()) and versions["train"] != versions["eval"]
    assert tag_release(versions, "support-triage@1.2.0", env={}) == []
