"""The code location loads, and its graph reads like the pipeline."""
from __future__ import annotations

import dagster as dg


def test_definitions_load_with_every_stage_group():
    from pipelines.definitions import defs

    graph = defs.resolve_asset_graph()
    groups = {graph.get(key).group_name for key in graph.get_all_asset_keys()}
    assert groups == {"datasets", "training", "evaluation", "registry", "providers"}
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert {"support_tickets", "train_tickets", "eval_tickets", "base_model", "lora_adapter",
            "evaluation_report", "registry_entry"} <= keys


def test_registry_entry_is_downstream_of_every_dataset_and_model():
    from pipelines.definitions import defs

    graph = defs.resolve_asset_graph()
    upstream = graph.get(dg.AssetKey("registry_entry")).parent_keys
    assert {dg.AssetKey(k) for k in ("evaluation_report", "lora_adapter", "base_model",
                                     "train_tickets", "eval_tickets")} <= set(upstream)


def test_jobs_sensor_and_checks_are_registered_with_in_process_executor():
    from pipelines.definitions import defs

    chain = defs.resolve_job_def("full_chain_job")
    assert chain.executor_def.name == "in_process"
    assert defs.resolve_job_def("promote_to_staging_job").executor_def.name == "in_process"
    assert defs.resolve_sensor_def("promote_on_eval_sensor") is not None
    check_names = {key.name for key in defs.resolve_asset_graph().asset_check_keys}
    assert {"suite_completed", "no_regression_vs_incumbent"} <= check_names
