"""Discovery over real HTTP against the in-process provider: listing, aliases, and every bad answer."""
from __future__ import annotations

import dataclasses
import re

import pytest

from evals.providers import ProviderError, discover_provider, list_models, sort_models
from providers import provider_contract
from llmreg.registry import providers as pv


def snapshot_events(reg):
    return list(reg.events(types=(pv.PROVIDER_SNAPSHOT,)))


def test_stub_honours_the_provider_contract(stub):
    provider_contract.check_models_listing(stub.base_url, expect={"triage-2026-06-01", "triage-latest"})
    assert provider_contract.check_completion(stub.base_url, "triage-2026-06-01").strip() == "billing"
    provider_contract.check_unknown_model(stub.base_url)


def test_listing_keeps_dates_and_sorts_out_aliases(config, stub):
    provider = config.provider("stub")
    models = {m.id: m for m in list_models(provider)}
    assert models["triage-2026-05-01"].shutdown_date == "2026-12-31"
    assert models["triage-2026-06-01"].info["owned_by"] == "stub"
    result = sort_models(provider, list(models.values()))
    assert sorted(m.id for m, _ in result.snapshots) == ["triage-2026-05-01", "triage-2026-06-01", "triage-2026-07-01"]
    assert sorted(i for i, _, _ in result.aliases) == ["triage-base", "triage-latest"]
    assert result.unfollowed == ("other-model-2026-01-01",)


def test_discovery_records_followed_snapshots_never_aliases(registry, config):
    result = discover_provider(registry, config.provider("stub"), actor="ci")
    assert result.ok and result.new == ["stub/triage-2026-05-01", "stub/triage-2026-06-01", "stub/triage-2026-07-01"]
    recorded = {r.snapshot for r in registry.provider_log()}
    assert recorded == {"triage-2026-05-01", "triage-2026-06-01", "triage-2026-07-01"}
    assert registry.provider_snapshot("stub", "triage-2026-05-01").shutdown_date == "2026-12-31"
    assert registry.provider_snapshot("stub", "triage-2026-06-01").info["base_url"] == config.provider("stub").base_url
    assert discover_provider(registry, config.provider("stub"), actor="ci").new == []  # idempotent


def test_announced_dates_from_the_config_are_recorded(registry, config):
    provider = dataclasses.replace(config.provider("stub"), deprecations=(
        ("triage-2026-06-01", (("deprecation_date", "2026-09-01"),)),))
    discover_provider(registry, provider, actor="ci")
    assert registry.provider_snapshot("stub", "triage-2026-06-01").deprecation_date == "2026-09-01"


def test_a_transient_5xx_is_retried(registry, config, stub):
    stub.queue_get_faults("503")
    result = discover_provider(registry, config.provider("stub"), actor="ci", sleep=lambda s: None)
    assert result.ok and stub.get_count == 2
    assert registry.provider_discovery() == {}


@pytest.mark.parametrize("faults, message", [
    (("500", "500"), "HTTP 500.*gave up after 2 attempts"),
    (("malformed",), "malformed JSON"),
    (("html",), "malformed JSON"),
    (("shape",), "not a model list"),
    (("401",), "authentication refused"),
    (("404",), "check base_url"),
    ((("slow", 1.0), ("slow", 1.0)), "timed out after 0.3s"),
])
def test_bad_answers_are_one_recorded_failure_and_no_snapshot_change(registry, config, stub, faults, message):
    provider = dataclasses.replace(config.provider("stub"), timeout_s=0.3)
    discover_provider(registry, provider, actor="ci")  # a known state to keep intact
    before = registry.provider_log()
    stub.queue_get_faults(*faults)
    result = discover_provider(registry, provider, actor="ci", sleep=lambda s: None)
    assert not result.ok
    assert re.search(message, result.error), result.error
    state = registry.provider_discovery()["stub"]
    assert not state.ok and state.error == result.error
    assert registry.provider_log() == before  # nothing delisted, nothing half-updated


def test_an_unreachable_provider_is_recorded(registry, config):
    provider = dataclasses.replace(config.provider("stub"), base_url="http://127.0.0.1:9/v1", max_retries=0)
    result = discover_provider(registry, provider, actor="ci")
    assert "ConnectError" in result.error
    assert snapshot_events(registry) == []
    with pytest.raises(ProviderError):
        list_models(provider)
