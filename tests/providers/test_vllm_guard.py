"""The vLLM integration test fails, never skips, when its tool environment is missing."""
from __future__ import annotations

import pytest

from providers import test_vllm_provider


def test_missing_vllm_venv_fails_naming_make_vllm(monkeypatch, tmp_path):
    monkeypatch.setattr(test_vllm_provider, "VLLM_PY", tmp_path / "nope/bin/python")
    with pytest.raises(pytest.fail.Exception, match="run `make vllm`"):
        test_vllm_provider._require_vllm()
