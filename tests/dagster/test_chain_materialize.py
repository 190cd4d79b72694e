"""The whole chain materialized for real (small settings), then the sensor's promotion."""
from __future__ import annotations

import json

import dagster as dg
import pytest
import yaml

from assets.config import params_config
from assets.resources import ProjectResource, RegistryResource
from training.params import load_params

pytestmark = pytest.mark.slow


def _chain(defs: dg.Definitions):
    # The chain only: the provider evaluation is partitioned by snapshot and runs on its own.
    return [a for a in defs.assets if "providers" not in set(a.group_names_by_key.values())]


def test_chain_registers_an_entry_that_the_sensor_promotes_to_staging(project_root, registry_url, tmp_path):
    from llmreg.registry.api import Registry
    from pipelines.audit import registry_audit_sensor
    from pipelines.definitions import defs as load
    from pipelines.sensors import promote_on_eval_sensor

    defs = load()
    instance = dg.DagsterInstance.ephemeral()
    resources = {
        "project": ProjectResource(root=str(project_root)),
        "registry": RegistryResource(url=registry_url, artifacts=str(tmp_path / "artifacts")),
    }
    config = params_config(load_params(project_root / "params.yaml"))
    run_config = dg.RunConfig(ops={a.node_def.name: config for a in _chain(defs)})
    result = dg.materialize(_chain(defs), resources=resources, instance=instance, run_config=run_config)
    assert result.success

    report = json.loads((project_root / "metrics/eval.json").read_text())
    assert report["tuned"]["accuracy"] > report["base"]["accuracy"] + 0.3
    scores = json.loads((project_root / "reports/eval.json").read_text())  # numbers only, for dvc metrics
    assert scores["accuracy"] == report["tuned"]["accuracy"] and set(scores["segments"]) == {"eu", "us", "apac"}
    entry_meta = result.asset_materializations_for_node("registry_entry")[0].metadata
    version = entry_meta["version"].value
    assert entry_meta["entry"].value == f"support-triage@{version}"
    assert "data:image/png;base64," in entry_meta["score_history"].value  # drift at a glance in the UI
    lora_meta = result.asset_materializations_for_node("lora_adapter")[0].metadata
    assert (lora_meta["lora_r"].value, lora_meta["lora_alpha"].value) == (8, 16)
    assert len(lora_meta["base_model_sha256"].value) == 64

    reg = Registry.open(registry_url)
    entry = reg.get("support-triage", version)
    train = json.loads((project_root / "metrics/train.json").read_text())
    assert entry.spec.artifacts[0].sha256 == train["adapter_sha256"]
    assert set(entry.spec.datasets) == {"train", "eval"}
    assert entry.spec.datasets["eval"] == report["tuned"]["dataset"]["version"]
    lineage = entry.spec.lineage
    assert lineage["environment"]["dispatch"]["aten_cpu_capability"] == "DEFAULT"
    assert lineage["environment"]["packages"]["torch"]
    assert set(lineage["output_digests"]) == {"models/base", "models/adapter", "data/splits/train.parquet",
                                              "data/splits/eval.parquet"}
    assert lineage["reproducible_from_dvc"] is False  # no DVC project here: said so, loudly
    assert lineage["dvc_lock_note"]

    with dg.build_sensor_context(instance=instance, resources=resources) as context:
        tick = promote_on_eval_sensor(context)
    [request] = tick.run_requests
    job = defs.resolve_job_def("promote_to_staging_job")
    run = job.execute_in_process(run_config=request.run_config, instance=instance,
                                 resources={"registry": resources["registry"]})
    assert run.success
    resolved = reg.resolve("support-triage", "default", stage="staging")
    assert resolved.version == version

    # The registry's events as the entry's audit timeline in the UI.
    with dg.build_sensor_context(instance=instance, resources=resources) as context:
        audit = registry_audit_sensor(context)
    kinds = [o.metadata["event"].value for o in audit.asset_events]
    assert {"entry.registered", "eval.recorded", "stage.promoted"} <= set(kinds)
    promoted = next(o for o in audit.asset_events if o.metadata["event"].value == "stage.promoted")
    assert promoted.asset_key == dg.AssetKey("registry_entry") and promoted.metadata["stage"].value == "staging"

    # A second candidate that regresses past the tolerance is stopped, and still on the record.
    params = yaml.safe_load((project_root / "params.yaml").read_text())
    params["lora"]["steps"] = 2
    (project_root / "params.yaml").write_text(yaml.safe_dump(params))
    worse = params_config(load_params(project_root / "params.yaml"))
    rerun = dg.materialize(_chain(defs), resources=resources, instance=instance, raise_on_error=False,
                           selection=(again := ["lora_adapter", "evaluation_report", "registry_entry"]),
                           run_config=dg.RunConfig(ops={name: worse for name in again}))
    checks = {e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data
              for e in rerun.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}
    assert checks["no_regression_vs_incumbent"].passed is False
    assert "minus tolerance 0.01" in checks["no_regression_vs_incumbent"].description
    assert not rerun.asset_materializations_for_node("registry_entry")  # blocked
    assert reg.versions("support-triage") == [version]  # not registered: no version, nothing to promote
    [rejected] = reg.events(types=("candidate.rejected",))
    assert rejected.payload["check"] == "no_regression_vs_incumbent"
    assert rejected.payload["incumbent"]["version"] == version
    assert rejected.payload["scores"]["score"] == checks["no_regression_vs_incumbent"].metadata["accuracy"].value
    assert rejected.payload["context"] == {"tolerance": 0.01}
    assert "no_regression_vs_incumbent" in rejected.evidence["report"]["failed_checks"]
    assert rejected.payload["candidate"]["artifacts"]["adapter"] != entry.spec.artifacts[0].sha256
    with dg.build_sensor_context(instance=instance, resources=resources, cursor=audit.cursor) as context:
        later = registry_audit_sensor(context)
    [observed] = [o for o in later.asset_events if o.metadata["event"].value == "candidate.rejected"]
    assert observed.metadata["incumbent_version"].value == version and observed.metadata["passed"].value is False
    assert reg.verify_audit().ok
    reg.close()
