"""Realistic specs and entries for the pure-core unit tests (no store, no fakes needed)."""
from __future__ import annotations

import copy
from typing import Any

from llmreg.registry.entry import Entry, EntrySpec

SHA_A = "a" * 64
SHA_B = "b" * 64
SHA_C = "c" * 64
COMMIT = "0123456789abcdef0123456789abcdef01234567"

# The seed-001 entry as published (the first line is a comment in the original article).
SEED_001_FULL = """\
# registry entry: the unit you version, approve, and roll back
name: support-triage
version: 14
model: gpt-5-mini-2026-xx # pinned snapshot, never a floating alias
prompt_ref: triage-prompt@v9 # prompt store reference
params: { max_tokens: 300 }
tools_ref: triage-tools@v3
eval: { suite: triage-eval-v4, score: 0.94, run: 2026-06-10 }
approved_by: zyql
status: production # draft | staging | production | retired
"""
REGISTRY_LINES = ("version: 14\n", "approved_by: zyql\n", "status: production # draft | staging | production | retired\n")
SEED_001 = "".join(line for line in SEED_001_FULL.splitlines(keepends=True) if line not in REGISTRY_LINES)

FULL_SPEC: dict[str, Any] = {
    "name": "support-triage",
    "model": {"provider": "hf", "id": "acme/tiny-llama", "revision": COMMIT, "sha256": SHA_A, "architecture": "LlamaForCausalLM"},
    "prompt_ref": "triage-prompt@v9",
    "prompt_sha256": SHA_B,
    "params": {"max_tokens": 300, "temperature": 0.2, "stop": ["\n\n"]},
    "tools_ref": "triage-tools@v3",
    "retrieval": {"kb": "kb-index@2026-06-01", "faq": {"ref": "faq-index@v2", "sha256": SHA_C, "uri": "s3://bucket/faq.idx"}},
    "policy_ref": "safety-policy@v4",
    "artifacts": [
        {"name": "adapter", "uri": "artifacts/adapter.safetensors", "sha256": SHA_C, "size": 1024, "kind": "adapter"},
        {"name": "tokenizer/tokenizer.json", "uri": "file:///srv/models/tokenizer.json", "sha256": SHA_B, "size": 77, "kind": "tokenizer"},
    ],
    "datasets": {"train": "md5:0f343b0931126a20f133d67c2b018a3b", "eval": "md5:1f343b0931126a20f133d67c2b018a3b"},
    "training": {"seed": 7, "lora": {"r": 8, "alpha": 16}, "epochs": 3},
    "eval": {
        "suite": "triage-eval-v4", "suite_version": "4.1", "score": 0.94, "run": "run-2026-06-10",
        "segments": {"en": 0.95, "es": 0.91}, "time": "2026-06-10T14:02:00Z", "threshold": 0.9, "metrics": {"latency_ms": 812.5},
    },
    "owner": "team-support",
    "framework": "transformers+peft",
    "description": "Routes support tickets.\nSecond line.",
    "card": {"intended_use": "Triage of inbound support tickets", "limitations": "English and Spanish only", "contact": "support-ml@example.com",
             "training_data": {"source": "tickets 2025", "size": 12000, "date_range": "2025-01..2025-12"}, "license": "apache-2.0"},
    "lineage": {"git_commit": COMMIT, "dvc_lock_sha256": SHA_A, "training_run": "train-42"},
    "gates": {"fairness_max_gap": 0.05, "canary_slo": {"max_p99_ms": 800, "min_calls": 200}},
    "labels": {"family": "triage", "app": "support"},
}


def spec_dict(**overrides: Any) -> dict[str, Any]:
    data = copy.deepcopy(FULL_SPEC)
    for key, value in overrides.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def make_spec(**overrides: Any) -> EntrySpec:
    return EntrySpec.from_dict(spec_dict(**overrides))


def make_entry(spec: EntrySpec | None = None, *, version: str = "1.0.0", author: str = "alice", seq: int = 1, **spec_overrides: Any) -> Entry:
    return Entry(
        spec=spec or make_spec(**spec_overrides),
        version=version,
        author=author,
        created_at="2026-06-10T14:02:00Z",
        seq=seq,
        bump="initial",
        bump_reason="first version",
    )
