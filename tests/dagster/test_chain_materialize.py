"""The whole chain materialized for real (small settings), then the sensor's promotion."""
from __future__ import annotations

import json

import dagster as dg
import pytest

from pipelines.resources import ProjectResource, RegistryResource

pytestmark = pytest.mark.slow


def test_chain_registers_an_entry_that_the_sensor_promotes_to_staging(project_root, registry_url, tmp_path):
    from pipelines.definitions import defs
    from pipelines.sensors import promote_on_eval_sensor
    from llmreg.registry.api import Registry

    instance = dg.DagsterInstance.ephemeral()
    resources = {
        "project": ProjectResource(root=str(project_root)),
        "registry": RegistryResource(url=registry_url, artifacts=str(tmp_path / "artifacts")),
    }
    # The chain only: the provider evaluation is partitioned by snapshot and runs on its own.
    assets = [a for a in defs.assets if "providers" not in set(a.group_names_by_key.values())]
    checks = list(defs.asset_checks)
    result = dg.materialize([*assets, *checks], resources=resources, instance=instance)
    assert result.success

    report = json.loads((project_root / "metrics/eval.json").read_text())
    assert report["tuned"]["accuracy"] > report["base"]["accuracy"] + 0.3
    entry_meta = result.asset_materializations_for_node("registry_entry")[0].metadata
    version = entry_meta["version"].value
    assert entry_meta["entry"].value == f"support-triage@{version}"
    assert "data:image/png;base64," in entry_meta["score_history"].value  # drift at a glance in the UI

    reg = Registry.open(registry_url)
    entry = reg.get("support-triage", version)
    assert entry.spec.artifacts[0].sha256 == json.loads((project_root / "metrics/train.json").read_text())["adapter_sha256"]
    assert set(entry.spec.datasets) == {"train", "eval"}
    assert entry.spec.datasets["eval"] == report["tuned"]["dataset"]["version"]

    tick = promote_on_eval_sensor(dg.build_sensor_context(instance=instance, resources=resources))
    [request] = tick.run_requests
    job = defs.resolve_job_def("promote_to_staging_job")
    run = job.execute_in_process(run_config=request.run_config, instance=instance,
                                 resources={"registry": resources["registry"]})
    assert run.success
    resolved = reg.resolve("support-triage", "default", stage="staging")
    assert resolved.version == version
