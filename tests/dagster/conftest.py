from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]

# Small enough to train in seconds, large enough that fine-tuning visibly beats the base.
SMALL_PARAMS = {
    "data": {"n_tickets": 800},
    "base_model": {"pretrain_steps": 40},
    "lora": {"steps": 120},
}


@pytest.fixture
def project_root(tmp_path: Path) -> Path:
    """A throwaway project checkout: params, prompt, suite and policy, small settings."""
    root = tmp_path / "project"
    for rel in ("prompts", "evals/suites", "evals/policies"):
        shutil.copytree(ROOT / rel, root / rel)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for section, values in SMALL_PARAMS.items():
        params[section].update(values)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return root


@pytest.fixture
def registry_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'registry.db'}"
