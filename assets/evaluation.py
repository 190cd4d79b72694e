"""Evaluation: the eval suite on the tuned and the base model, and the gates as asset checks."""

import dagster as dg

from assets.step_runner import read_json, run_step
from pipelines.resources import ProjectResource, RegistryResource

GROUP = "evaluation"
SUITE = "evals/suites/triage-eval.yaml"
OUT = "metrics/eval.json"
EVAL_ARGS = ["--suite", SUITE, "--base", "models/base", "--adapter", "models/adapter",
             "--out", OUT, "--no-fail"]


@dg.asset(group_name=GROUP, kinds={"python"},
          deps=["lora_adapter", "base_model", "eval_tickets"],
          description="Suite results for tuned and base model: accuracy overall and by segment, "
                      "fairness gap, safety, latency, cost.")
def evaluation_report(context: dg.AssetExecutionContext, project: ProjectResource) -> dg.MaterializeResult:
    from evals import run as step

    seconds = run_step(context, project.root_path, "evals.run", step.main, EVAL_ARGS)
    report = read_json(project.path(OUT))
    tuned, base = report["tuned"], report.get("base", {})
    return dg.MaterializeResult(metadata={
        "suite": f"{tuned['suite']['name']}@{tuned['suite']['version']}",
        "run_id": tuned["run_id"],
        "accuracy": tuned["accuracy"],
        "base_accuracy": base.get("accuracy"),
        "segment_accuracy": dg.MetadataValue.json(tuned["segment_scores"]),
        "fairness_gap": tuned["fairness_gap"],
        "latency_ms": dg.MetadataValue.json(tuned["latency_ms"]),
        "passed": tuned["passed"],
        "failed_checks": dg.MetadataValue.json(tuned["failed_checks"]),
        "dataset_version": tuned["dataset"].get("version"),
        "seconds": round(seconds, 2),
    })


@dg.asset_check(asset=evaluation_report, blocking=True,
                description="The suite ran over the whole eval split with no runner errors.")
def suite_completed(project: ProjectResource) -> dg.AssetCheckResult:
    tuned = read_json(project.path(OUT))["tuned"]
    ok = tuned["n"] > 0 and tuned["errors"] == 0
    return dg.AssetCheckResult(passed=ok, metadata={"rows": tuned["n"], "errors": tuned["errors"]})


@dg.asset_check(asset=evaluation_report, blocking=True,
                description="Tuned accuracy is not below the version that holds staging or production.")
def no_regression_vs_incumbent(project: ProjectResource, registry: RegistryResource) -> dg.AssetCheckResult:
    from training.release import incumbent_scores

    tuned = read_json(project.path(OUT))["tuned"]
    incumbents = incumbent_scores(registry.open(), name=project.registry_name)
    worst = min(incumbents.values(), default=None)
    best = max(incumbents.values(), default=None)
    passed = best is None or tuned["accuracy"] >= best - 1e-9
    return dg.AssetCheckResult(passed=passed, metadata={
        "accuracy": tuned["accuracy"],
        "incumbents": dg.MetadataValue.json(incumbents),
        "lowest_incumbent": worst,
    })
