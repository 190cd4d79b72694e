"""Fixtures for evals tests: a tiny random Llama model + adapter, synthetic eval frames,
and a real OpenAI-compatible HTTP server on 127.0.0.1."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from openai_stub_server import StubServer
from tiny_model import build_tiny_model, make_eval_rows

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> tuple[Path, Path]:
    """(base_dir, adapter_dir) saved with save_pretrained."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def tuned_runner(tiny_model):
    from evals.runners.transformers_runner import TransformersRunner

    base, adapter = tiny_model
    return TransformersRunner(base, adapter, batch_size=16, max_new_tokens=1, num_threads=2)


@pytest.fixture
def eval_frame():
    import pandas as pd

    def make(n: int = 30, seed: int = 0) -> "pd.DataFrame":
        return pd.DataFrame(make_eval_rows(n, seed=seed))

    return make


@pytest.fixture
def stub_server():
    with StubServer() as server:
        yield server


@pytest.fixture
def project_copy(tmp_path, repo_root) -> Path:
    """A scratch project root holding the real suite, prompt and policy files."""
    for rel in ("evals/suites/triage-eval.yaml", "evals/policies/safety-policy.yaml",
                "prompts/triage-prompt.yaml"):
        dest = tmp_path / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(repo_root / rel, dest)
    return tmp_path
