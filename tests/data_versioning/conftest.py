"""Fixtures: one fresh store per test for each backend (DVC/local in tmp, lakeFS on the fake)."""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from training.data_versioning import DataVersioning
from training.dvc_versioning import LocalDVCDataVersioning
from training.lakefs_versioning import LakeFSDataVersioning, LakeFSSettings

from .lakefs_fake_server import FakeLakeFS

# The Makefile exports LLMREG_DVC; the default is the same tool venv it creates.
TOOL_DVC = Path(os.environ.get("LLMREG_DVC") or Path(__file__).resolve().parents[2] / ".tools" / "dvc" / "bin" / "dvc")


@pytest.fixture(scope="session")
def fake_lakefs() -> Iterator[FakeLakeFS]:
    with FakeLakeFS() as server:
        yield server
    assert not server.unhandled, f"the lakefs SDK called routes the fake does not serve: {server.unhandled}"


def lakefs_settings(server: FakeLakeFS, **overrides: str) -> LakeFSSettings:
    values = {
        "host": server.url,
        "access_key_id": "AKIAFAKE",
        "secret_access_key": "fake-secret",
        "repository": "ds-" + uuid.uuid4().hex[:12],  # a fresh repository per store
        "storage_namespace": "mem://datasets",
    }
    values.update(overrides)
    return LakeFSSettings(**values)


@pytest.fixture(params=["dvc", "lakefs"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> DataVersioning:
    if request.param == "dvc":
        return LocalDVCDataVersioning(tmp_path / "store")
    server = request.getfixturevalue("fake_lakefs")
    return LakeFSDataVersioning(lakefs_settings(server))
