"""Drift re-evaluation with the provider machinery: the production version's suite run again
against its snapshot over real HTTP (the stub provider), judged against its certified score."""
from __future__ import annotations

import pytest

from llmreg.drift_checks import observer
from providers.conftest import ENTRY, PROVIDER


def _pin(reg, snapshot: str, certified: float) -> None:
    reg.register({"name": ENTRY, "model": {"provider": PROVIDER, "id": snapshot},
                  "prompt_ref": "triage-prompt@v1", "params": {"max_tokens": 1, "temperature": 0.0},
                  "eval": {"suite": "triage-eval", "suite_version": "1.0.0", "score": certified, "run": "cert"},
                  "owner": "support-ml", "version": "1.0.0", "status": "production",
                  "approved_by": ["bob", "carol"]}, actor="admin", import_history=True)


@pytest.mark.parametrize(("snapshot", "flagged", "fresh"), [
    ("triage-2026-07-01", True, 0.2),   # the provider now answers `billing` to everything
    ("triage-2026-06-01", False, 1.0),  # still right
])
def test_the_suite_is_run_again_and_a_drop_is_flagged(registry, config, project, snapshot, flagged, fresh):
    _pin(registry, snapshot, 0.95)
    report = registry.drift_check(observer(registry, providers=config, root=project))
    (finding,) = report.findings
    assert finding.observed.score == pytest.approx(fresh)
    assert "triage-eval@1.0.0 re-run drift-" in (finding.observed.window or "")
    assert finding.verdict.flagged is flagged
    assert len(registry.flags(ENTRY)) == (1 if flagged else 0)
    if flagged:
        assert f"score {fresh:g} vs certified 0.95" in registry.flags(ENTRY)[0].payload["reasons"][0]


def test_a_version_no_provider_serves_is_not_re_run(registry, project):
    _pin(registry, "triage-2026-06-01", 0.95)
    report = registry.drift_check(observer(registry, providers=None, root=project))
    (finding,) = report.findings
    assert finding.observed.score is None and not finding.verdict.flagged
    assert f"score not re-evaluated: no provider '{PROVIDER}' in providers.yaml" in finding.observed.window
