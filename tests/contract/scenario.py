"""A realistic entry and the steps that walk a version through every gate."""
from __future__ import annotations

import copy

NAME = "support-triage"
AUTHOR = "alice"
SPEC = {
    "name": NAME,
    "model": "gpt-5-mini-2026-06-01",
    "prompt_ref": "triage-prompt@v9",
    "params": {"max_tokens": 300},
    "tools_ref": "triage-tools@v3",
    "eval": {"suite": "triage-eval-v4", "score": 0.94, "run": "2026-06-10",
             "segments": {"eu": 0.93, "us": 0.95, "apac": 0.94}},
    "owner": "support-ml",
}
SLO_OK = {"error_rate": 0.004, "p99_ms": 640, "calls": 1200, "instance": "gw-test-1",
          "window": {"start": "2026-06-10T09:00:00Z", "end": "2026-06-10T10:00:00Z"}}


def spec(**changes) -> dict:
    """SPEC with top-level fields replaced (None removes a field)."""
    out = copy.deepcopy(SPEC)
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def version_n(n: int) -> dict:
    """The n-th distinct spec (params differ): registering 1..n gives 1.0.0, 1.0.1, ..."""
    return spec(params={"max_tokens": 300 + n})


def configure(reg, threshold: float = 0.9) -> None:
    reg.configure_gates({"eval_threshold": threshold}, actor="admin")


def to_canary(reg, version: str, env: str = "default", *, name: str = NAME, weight: float | None = None) -> None:
    reg.promote(name, version, "staging", env, actor="ci")
    reg.review(name, version, env, actor="bob", notes="segments look fine")
    reg.promote(name, version, "canary", env, actor="release-bot", weight=weight)


def to_production(reg, version: str, env: str = "default", *, name: str = NAME) -> None:
    to_canary(reg, version, env, name=name)
    reg.record_evidence(name, version, env, "canary_slo", SLO_OK, actor="system:slo-guard")
    reg.approve(name, version, "production", env, actor="bob")
    reg.approve(name, version, "production", env, actor="carol")
    reg.promote(name, version, "production", env, actor="release-bot")
