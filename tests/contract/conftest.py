"""The store contract suite runs every test against SQLite, PostgreSQL and the memory store."""
from __future__ import annotations

import pytest

from contract.backends import MemoryBackend, make_backend


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres), "memory"])
def backend(request, tmp_path):
    backend = make_backend(request.param, tmp_path)
    yield backend
    backend.drop()


@pytest.fixture
def open_registry(backend, tmp_path):
    """open_registry(**kw) -> a Registry on this test's store; all closed at teardown."""
    from llmreg.registry.api import Registry

    opened = []

    def factory(**kwargs):
        kwargs.setdefault("artifacts", str(tmp_path / "artifacts"))
        if isinstance(backend, MemoryBackend):
            from llmreg.registry.artifacts import ArtifactStore

            reg = Registry(backend.store, ArtifactStore(kwargs.pop("artifacts")), **kwargs)
        else:
            reg = Registry.open(backend.url, **kwargs)
        opened.append(reg)
        return reg

    yield factory
    for reg in opened:
        reg.close()


@pytest.fixture
def reg(open_registry):
    return open_registry()
