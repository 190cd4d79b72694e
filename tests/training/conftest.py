"""Shared fixtures for the training tests: the repo's prompt and one tiny real base model."""
from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROMPT_PATH = REPO / "prompts" / "triage-prompt.yaml"


@pytest.fixture(scope="session")
def prompt_path() -> Path:
    return PROMPT_PATH


@pytest.fixture(scope="session")
def template():
    from llmreg.registry.prompts import load_prompt

    return load_prompt(PROMPT_PATH)


@pytest.fixture(scope="session")
def small_splits(tmp_path_factory) -> tuple[Path, Path]:
    """(train, eval) Parquet paths of a 600-ticket corpus."""
    from training.corpus import build_corpus, split_corpus
    from training.outputs import write_parquet

    root = tmp_path_factory.mktemp("splits")
    train, evals = split_corpus(build_corpus(600, seed=7), 0.2, seed=7)
    return write_parquet(train, root / "train.parquet"), write_parquet(evals, root / "eval.parquet")


@pytest.fixture(scope="session")
def tiny_base_dir(tmp_path_factory, small_splits, prompt_path) -> Path:
    """A real embedded base model at the default architecture, pretrained for a few dozen steps only."""
    from training.base_model import build_base_model
    from training.params import BaseModelParams

    out = tmp_path_factory.mktemp("base") / "base"
    build_base_model(BaseModelParams(pretrain_steps=40), small_splits[0], prompt_path, out)
    return out
