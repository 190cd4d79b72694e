"""Fixtures: a scratch project (real suite, prompt and policy; a small eval split), a
registry, and an in-process OpenAI-compatible provider over real HTTP."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from providers.provider_stub_server import ProviderStub

ROOT = Path(__file__).resolve().parents[2]
LABELS = ("billing", "technical", "account", "shipping", "refund")
ENTRY = "support-triage-hosted"
PROVIDER = "stub"


def eval_rows(n: int = 40) -> list[dict]:
    return [{"ticket_id": f"t{i:03d}", "text": f"case {i} about {LABELS[i % 5]} things",
             "label": LABELS[i % 5], "segment": ("eu", "us")[(i // 5) % 2]} for i in range(n)]


ANSWERS = {row["text"]: row["label"] for row in eval_rows(200)}


def ticket_text(prompt: str) -> str:
    return prompt.removeprefix("ticket : ").removesuffix(" label :")


def answer_right(prompt: str) -> str:
    return " " + ANSWERS.get(ticket_text(prompt), "billing")


def answer_billing(prompt: str) -> str:
    return " billing"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    import pandas as pd

    root = tmp_path / "project"
    for rel in ("evals/suites/triage-eval.yaml", "evals/policies/safety-policy.yaml", "prompts/triage-prompt.yaml"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, root / rel)
    (root / "data/splits").mkdir(parents=True)
    pd.DataFrame(eval_rows()).to_parquet(root / "data/splits/eval.parquet")
    return root


@pytest.fixture
def registry(tmp_path: Path):
    from llmreg.registry.api import Registry

    reg = Registry.open(f"sqlite:///{tmp_path / 'registry.db'}")
    yield reg
    reg.close()


@pytest.fixture
def stub():
    models = {"triage-2026-05-01": answer_right, "triage-2026-06-01": answer_right,
              "triage-2026-07-01": answer_billing, "triage-latest": answer_right, "triage-base": answer_billing,
              "other-model-2026-01-01": answer_right}
    extras = {"triage-2026-05-01": {"shutdown_date": "2026-12-31"}}
    with ProviderStub(models, extras=extras) as server:
        yield server


def write_providers(root: Path, base_url: str, **overrides) -> Path:
    provider = {"name": PROVIDER, "base_url": base_url, "api_key_env": None, "timeout_s": 2, "max_retries": 1,
                "backoff_s": 0.01, "concurrency": 4,
                "families": [{"name": "triage", "prefix": "triage-", "suite": "evals/suites/triage-eval.yaml",
                              "suite_version": "1.0.0", "entries": [{"name": ENTRY, "env": "default"}]}]}
    provider.update(overrides)
    path = root / "providers.yaml"
    path.write_text(yaml.safe_dump({"providers": [provider]}, sort_keys=False))
    return path


@pytest.fixture
def config(project: Path, stub: ProviderStub):
    from evals.providers import load_providers

    return load_providers(write_providers(project, stub.base_url))


def pin_production(reg, snapshot: str, *, provider: str = PROVIDER) -> None:
    """A production entry pinning `snapshot` (an audited import: no gate walk needed here)."""
    reg.register({"name": ENTRY, "model": {"provider": provider, "id": snapshot},
                  "prompt_ref": "triage-prompt@v1", "params": {"max_tokens": 1, "temperature": 0.0},
                  "owner": "support-ml", "version": "1.0.0", "status": "production",
                  "approved_by": ["bob", "carol"]}, actor="admin", import_history=True)
