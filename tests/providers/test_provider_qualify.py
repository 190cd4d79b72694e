"""Qualification over real HTTP: verdicts, drafts, and bad provider answers as recorded failures."""
from __future__ import annotations

import dataclasses
import re

import pytest

from evals.providers import ProvidersConfigError, discover_all, load_providers, qualify_snapshot, reevaluate
from providers.conftest import ENTRY, pin_production, write_providers
from llmreg.registry import providers as pv


@pytest.fixture
def seen(registry, config):
    discover_all(registry, config, actor="ci")
    return registry


def fast(config, **changes):
    """The same config with transport settings changed (e.g. short timeouts)."""
    provider = dataclasses.replace(config.provider("stub"), **changes)
    return dataclasses.replace(config, providers=(provider,))


def test_a_good_snapshot_qualifies_and_drafts_a_major_version_of_the_production_entry(seen, config, project):
    pin_production(seen, "triage-2026-05-01")
    result = qualify_snapshot(seen, config, "stub", "triage-2026-06-01", actor="ci", root=project)
    assert result.status == "qualified" and result.score == 1.0 and result.rows == 40
    assert result.drafts == [f"{ENTRY}@2.0.0"]
    record = seen.provider_snapshot("stub", "triage-2026-06-01")
    assert (record.status, record.score, record.suite, record.drafts) == (
        "qualified", 1.0, "triage-eval@1.0.0", (f"{ENTRY}@2.0.0",))
    draft = seen.get(ENTRY, "2.0.0")
    assert draft.bump == "major" and draft.spec.model.to_dict() == {"provider": "stub", "id": "triage-2026-06-01"}
    assert draft.spec.eval.score == 1.0 and draft.spec.eval.run == result.run_id
    assert draft.spec.lineage["provider_snapshot"] == "stub/triage-2026-06-01"
    assert seen.status(ENTRY).of("2.0.0") == "development" and seen.resolve(ENTRY).version == "1.0.0"
    assert "triage-2026-06-01" in seen.card(ENTRY, "2.0.0")
    assert any(n.id.startswith("model:stub:triage-2026-06-01") for n in seen.lineage(ENTRY, "2.0.0").nodes)
    evidence = [e for e in seen.events(types=(pv.PROVIDER_SNAPSHOT,)) if e.payload["status"] == "qualified"][0]
    assert evidence.evidence["report"]["target"]["snapshot"] == "triage-2026-06-01"
    assert evidence.evidence["report"]["n"] == 40
    # qualifying it again drafts nothing new: a version pinning it exists
    again = qualify_snapshot(seen, config, "stub", "triage-2026-06-01", actor="ci", root=project)
    assert again.status == "qualified" and again.drafts == []
    assert seen.versions(ENTRY) == ["1.0.0", "2.0.0"]


def test_an_older_snapshot_than_production_drafts_nothing(seen, config, project):
    pin_production(seen, "triage-2026-06-01")
    result = qualify_snapshot(seen, config, "stub", "triage-2026-05-01", actor="ci", root=project)
    assert result.status == "qualified" and result.drafts == []
    assert seen.versions(ENTRY) == ["1.0.0"]


def test_a_bad_snapshot_is_rejected_with_its_failed_checks(seen, config, project):
    pin_production(seen, "triage-2026-05-01")
    result = qualify_snapshot(seen, config, "stub", "triage-2026-07-01", actor="ci", root=project)
    assert result.status == "rejected" and result.score == pytest.approx(0.2)
    assert "threshold" in result.failed_checks and result.drafts == []
    record = seen.provider_snapshot("stub", "triage-2026-07-01")
    assert (record.status, record.verdict, record.failed_checks[0]) == ("rejected", "rejected", "threshold")
    assert seen.versions(ENTRY) == ["1.0.0"]


@pytest.mark.parametrize("fault, message", [
    ("500", "HTTP 500"),
    ("malformed", "malformed response"),
    (("slow", 1.0), "timed out after 0.3s"),
])
def test_provider_faults_during_the_suite_end_as_a_recorded_failure(seen, config, project, stub, fault, message):
    pin_production(seen, "triage-2026-05-01")
    stub.always_post = fault
    result = qualify_snapshot(seen, fast(config, timeout_s=0.3, max_retries=0, concurrency=8), "stub",
                              "triage-2026-06-01", actor="ci", root=project)
    assert result.status == "failed" and message in result.detail and "40 of 40 requests failed" in result.detail
    record = seen.provider_snapshot("stub", "triage-2026-06-01")
    assert (record.status, record.verdict, record.open_runs) == ("failed", None, ())
    assert seen.versions(ENTRY) == ["1.0.0"]  # no draft from a failed run


def test_a_single_lost_request_fails_the_run_rather_than_scoring_it_wrong(seen, config, project, stub):
    stub.queue_post_faults("503")
    result = qualify_snapshot(seen, fast(config, max_retries=0), "stub", "triage-2026-06-01", actor="ci", root=project)
    assert result.status == "failed" and "1 of 40 requests failed" in result.detail


def test_an_unknown_model_is_a_recorded_failure(seen, config, project, stub):
    del stub.models["triage-2026-06-01"]  # the provider withdrew it after discovery
    result = qualify_snapshot(seen, config, "stub", "triage-2026-06-01", actor="ci", root=project)
    assert result.status == "failed" and "unknown model 'triage-2026-06-01'" in result.detail


def test_configuration_errors_write_nothing(seen, config, project):
    head = seen.head_seq()
    (project / "evals/suites/triage-eval.yaml").write_text(
        (project / "evals/suites/triage-eval.yaml").read_text().replace('version: "1.0.0"', 'version: "1.1.0"'))
    with pytest.raises(ProvidersConfigError, match="pins version 1.0.0"):
        qualify_snapshot(seen, config, "stub", "triage-2026-06-01", actor="ci", root=project)
    with pytest.raises(ProvidersConfigError, match="no provider named 'nope'"):
        qualify_snapshot(seen, config, "nope", "triage-2026-06-01", actor="ci", root=project)
    assert seen.head_seq() == head


def test_a_snapshot_never_seen_is_not_qualified(registry, config, project):
    from llmreg.registry.errors import NotFound

    with pytest.raises(NotFound, match="has not been seen"):
        qualify_snapshot(registry, config, "stub", "triage-2026-06-01", actor="ci", root=project)


def test_reevaluate_covers_every_followed_listed_snapshot(seen, config, project):
    results = reevaluate(seen, config, actor="ci", root=project)
    assert sorted((r.snapshot, r.status) for r in results) == [
        ("triage-2026-05-01", "qualified"), ("triage-2026-06-01", "qualified"), ("triage-2026-07-01", "rejected")]


@pytest.mark.parametrize("change, message", [
    ({"families": [{"name": "x", "suite": "s.yaml", "suite_version": "1.0.0"}]}, "exactly one of prefix or pattern"),
    ({"name": "hf"}, "pin files, not snapshots"),
    ({"base_url": "ftp://x"}, "base_url"),
    ({"timeout": 3}, "providers[0].timeout: unknown key; did you mean 'timeout_s'?"),
    ({"max_retries": -1}, "providers[0].max_retries: is not a whole number >= 0; give a whole number of retries"),
    ({"families": []}, "providers[0].families: list should have at least 1 item"),
    ({"deprecations": {"triage-2026-05-01": {"shutdown_date": "soon"}}},
     "providers[0].deprecations.triage-2026-05-01.shutdown_date: 'soon' is not a date; give YYYY-MM-DD"),
    ({"api_key_env": "NOT SET"}, "api_key_env"),
])
def test_bad_providers_yaml_is_one_line_naming_the_field(project, change, message):
    path = write_providers(project, **{"base_url": "http://127.0.0.1:1/v1", **change})
    with pytest.raises(ProvidersConfigError, match=re.escape(message)) as err:
        load_providers(path)
    assert "\n" not in str(err.value) and str(err.value).startswith(f"{path}: ")


def test_the_repo_example_config_loads():
    from providers.conftest import ROOT

    config = load_providers(ROOT / "providers.yaml")
    provider = config.provider("local-vllm")
    assert provider.family_of("triage-2026-06-01").name == "triage" and provider.family_of("other") is None
    assert provider.announced_dates("triage-2026-05-01")["shutdown_date"] == "2026-12-31"


def test_a_refused_draft_means_no_qualified_verdict_either(seen, config, project):
    pin_production(seen, "triage-2026-05-01")
    seen.configure_roles({"roles": {"admin": ["*"], "evaluator": ["read", "record_eval", "record_evidence"]},
                          "members": {"admin": ["admin"], "ci": ["evaluator"]}}, actor="admin")
    result = qualify_snapshot(seen, config, "stub", "triage-2026-06-01", actor="ci", root=project)
    assert result.status == "failed" and "Forbidden" in result.detail and "register" in result.detail
    record = seen.provider_snapshot("stub", "triage-2026-06-01")
    assert (record.status, record.verdict, record.drafts) == ("failed", None, ())
    assert seen.versions(ENTRY) == ["1.0.0"]


def test_a_draft_registered_concurrently_is_not_drafted_twice(seen, config, project, monkeypatch):
    pin_production(seen, "triage-2026-05-01")
    original = seen.record_provider_snapshot
    raced = []

    def racing(provider, snapshot, status, **kwargs):
        if kwargs.get("drafts") and not raced:  # another run registers the same draft first
            raced.append(seen.register(kwargs["drafts"][0], actor="other", bump="major"))
        return original(provider, snapshot, status, **kwargs)

    monkeypatch.setattr(seen, "record_provider_snapshot", racing)
    result = qualify_snapshot(seen, config, "stub", "triage-2026-06-01", actor="ci", root=project)
    assert raced and result.status == "qualified" and result.drafts == []
    assert seen.versions(ENTRY) == ["1.0.0", "2.0.0"] and seen.get(ENTRY, "2.0.0").author == "other"


def test_configured_cron_reads_the_file_and_falls_back_to_daily(tmp_path):
    from evals.providers import DEFAULT_CRON, configured_cron

    path = tmp_path / "providers.yaml"
    path.write_text('reevaluate_cron: "30 2 * * 1"\nproviders: []\n')
    assert configured_cron(path) == "30 2 * * 1"  # the schedule only needs the cron, not a valid rest
    path.write_text("providers: []\n")
    assert configured_cron(path) == DEFAULT_CRON == "0 6 * * *"
    path.write_text("reevaluate_cron: [unclosed\n")
    assert configured_cron(path) == DEFAULT_CRON
    assert configured_cron(tmp_path / "missing.yaml") == DEFAULT_CRON
