"""The code location loads, and its graph reads like the pipeline."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def defs() -> dg.Definitions:
    from pipelines.definitions import defs

    return defs()


def test_definitions_load_with_every_stage_group(defs):
    graph = defs.resolve_asset_graph()
    groups = {graph.get(key).group_name for key in graph.get_all_asset_keys()}
    assert groups == {"datasets", "training", "evaluation", "registry", "providers"}
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert {"support_tickets", "train_tickets", "eval_tickets", "base_model", "lora_adapter",
            "evaluation_report", "registry_entry"} <= keys


def test_registry_entry_is_downstream_of_every_dataset_and_model(defs):
    graph = defs.resolve_asset_graph()
    upstream = graph.get(dg.AssetKey("registry_entry")).parent_keys
    assert {dg.AssetKey(k) for k in ("evaluation_report", "lora_adapter", "base_model",
                                     "train_tickets", "eval_tickets")} <= set(upstream)


def test_jobs_sensors_and_blocking_checks_are_registered_with_in_process_executor(defs):
    chain = defs.resolve_job_def("full_chain_job")
    assert chain.executor_def.name == "in_process"
    assert defs.resolve_job_def("promote_to_staging_job").executor_def.name == "in_process"
    sensors = {s.name: s for s in defs.sensors}
    assert sensors["promote_on_eval_sensor"].job_name == "promote_to_staging_job"
    assert "registry_audit_sensor" in sensors
    graph = defs.resolve_asset_graph()
    checks = {key.name: graph.get_check_spec(key) for key in graph.asset_check_keys}
    assert set(checks) == {"suite_completed", "no_regression_vs_incumbent"}
    assert all(spec.blocking for spec in checks.values())


def test_assets_carry_code_versions(defs):
    graph = defs.resolve_asset_graph()
    for key in ("support_tickets", "train_tickets", "base_model", "lora_adapter", "evaluation_report",
                "registry_entry"):
        assert graph.get(dg.AssetKey(key)).code_version, key


def test_chain_job_config_is_params_yaml(defs, tmp_path):
    from assets.config import params_run_config

    config = params_run_config(ROOT / "params.yaml").to_config_dict()["ops"]
    assert set(config) >= {"support_tickets", "base_model", "lora_adapter", "registry_entry"}
    assert config["lora_adapter"]["config"]["lora"]["steps"] == 300


def test_bad_run_config_fails_with_the_params_one_line_error():
    from assets.config import ParamsConfig
    from training.errors import ParamsError

    bad = ParamsConfig(lora={"steps": 0})
    with pytest.raises(ParamsError, match=r"^run config: lora.steps: input should be greater than 0"):
        bad.to_params()


def test_assets_do_not_import_pipelines_and_nothing_reads_the_environment_at_import():
    """Layering (pipelines -> assets) and import-time purity, in a fresh interpreter."""
    code = (
        "import os, sys\n"
        "os.environ['LLMREG_PROVIDERS_CRON'] = 'not a cron'\n"
        "os.environ['LLMREG_PROVIDERS_POLL_S'] = 'not a number'\n"
        "import assets.datasets, assets.models, assets.evaluation, assets.registry_entry, assets.resources\n"
        "assert not [m for m in sys.modules if m == 'pipelines' or m.startswith('pipelines.')], 'assets imported pipelines'\n"
        "import pipelines.definitions\n"  # import alone must not evaluate the settings above
        "print('ok')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]


def test_registry_resource_closes_the_registry_it_opened(tmp_path):
    from assets.resources import RegistryResource

    with dg.build_resources({"registry": RegistryResource(url=f"sqlite:///{tmp_path / 'r.db'}")}) as res:
        reg = res.registry.open()
        assert res.registry.open() is reg  # one registry per run
        reg.names()
    assert res.registry._registry is None  # teardown closed it


def test_deployment_values_come_in_as_env_vars_not_values():
    from assets.resources import deployment_resources

    embedded = deployment_resources({})
    assert embedded["registry"].url == ""
    team = deployment_resources({"LLMREG_STORE": "postgresql+psycopg://u:secret@db/reg"})
    assert isinstance(team["registry"].url, dg.EnvVar) and "secret" not in repr(team["registry"])


def test_dagster_cli_validates_the_code_location(tmp_path):
    """What `dagster dev` and the daemon load: the workspace, through Dagster's own loader."""
    dagster = Path(sys.executable).parent / "dagster"
    # Its own DAGSTER_HOME: a clean clone has no .dagster/ folder until the demo makes one.
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    proc = subprocess.run([str(dagster), "definitions", "validate", "-w", "workspace.yaml"], cwd=ROOT,
                          capture_output=True, text=True, check=False, timeout=300, env=env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "All code locations passed validation" in out, out[-3000:]
    assert "does not match the name" not in out
