"""registry_audit_sensor: a rejected candidate lands on registry_entry's timeline in the instance."""
from __future__ import annotations

import dagster as dg

from assets.resources import RegistryResource
from pipelines.audit import registry_audit_sensor

NAME = "support-triage"
SPEC = {"name": NAME, "model": "gpt-5-mini-2026-06-01", "prompt_ref": "triage-prompt@v1",
        "eval": {"suite": "triage-eval", "score": 0.94, "run": "r1", "threshold": 0.8}}


def test_a_rejected_candidate_is_an_observation_on_registry_entry(registry_url, tmp_path, monkeypatch):
    from llmreg.registry.api import Registry

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    (tmp_path / "dagster_home").mkdir()
    with Registry.open(registry_url) as reg:
        reg.register(SPEC, actor="alice")
        reg.promote(NAME, "1.0.0", "staging", actor="ci")
        event = reg.reject_candidate({**SPEC, "prompt_ref": "triage-prompt@v2", "eval": None},
                                     check="no_regression_vs_incumbent", detail="0.61 < 0.94 minus tolerance 0.01",
                                     report={"suite": "triage-eval", "score": 0.61, "run": "r2", "passed": True,
                                             "run_id": "r2", "accuracy": 0.61},
                                     incumbent="1.0.0", actor="system:pipeline")

    with dg.DagsterInstance.get() as instance:  # the temp DAGSTER_HOME, as `dagster dev` would use
        with dg.build_sensor_context(instance=instance,
                                     resources={"registry": RegistryResource(url=registry_url)}) as context:
            tick = registry_audit_sensor(context)
        [observed] = [o for o in tick.asset_events if o.metadata["event"].value == "candidate.rejected"]
        meta = {key: value.value for key, value in observed.metadata.items()}
        assert observed.asset_key == dg.AssetKey("registry_entry")
        assert meta["check"] == "no_regression_vs_incumbent" and meta["passed"] is False
        assert meta["incumbent_version"] == "1.0.0" and meta["incumbent_score"] == 0.94
        assert meta["accuracy"] == 0.61 and meta["eval_run"] == "r2"
        assert meta["candidate_digest"] == event.payload["candidate"]["digest"] and meta["hash"] == event.hash
        # Recorded the way the daemon records a sensor's asset events: in the asset's history.
        for obs in tick.asset_events:
            instance.report_runless_asset_event(obs)
        records = instance.fetch_observations(dg.AssetKey("registry_entry"), limit=20).records
        kinds = [r.asset_observation.metadata["event"].value for r in records]
        assert "candidate.rejected" in kinds and "stage.promoted" in kinds
