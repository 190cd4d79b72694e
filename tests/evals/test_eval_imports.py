"""House rules on imports: evals/ never imports Dagster, the light modules (suites, scorers,
the OpenAI runner) do not drag torch in, and code using a loaded suite or providers.yaml
does not import pydantic."""
from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "modules,forbidden",
    [
        (["evals.suite", "evals.scorers", "evals.policy", "evals.run", "evals.history",
          "evals.runners", "evals.runners.openai_runner"], ["dagster", "torch", "transformers", "vllm"]),
        (["evals.runners.transformers_runner", "evals.runners.vllm_runner"], ["dagster"]),
        # pydantic only where a configuration file is read (the *_document modules)
        (["evals.suite", "evals.policy", "evals.scorers", "evals.providers"], ["pydantic"]),
    ],
)
def test_imports_stay_light(repo_root, modules, forbidden):
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"print(','.join(sorted(m for m in {forbidden!r} if m in sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=repo_root, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
