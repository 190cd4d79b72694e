from __future__ import annotations

import pytest

from contract.backends import make_backend


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request, tmp_path):
    backend = make_backend(request.param, tmp_path)
    yield backend
    backend.drop()
