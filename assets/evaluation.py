"""Evaluation: the eval suite on the tuned and the base model, and the gates as blocking checks.

The checks run inside the asset (`check_specs`), so they read the same run config. A
candidate stopped by `no_regression_vs_incumbent` is still put on the record: it is
registered as a development version whose recorded eval names the failed check, so the
audit trail shows the attempt and the promotion sensor records the failed gate.
"""

import dagster as dg

from assets.config import ParamsConfig
from assets.resources import ProjectResource, RegistryResource
from training.evaluation import evaluation_step
from training.release import incumbent_scores, register_release

GROUP = "evaluation"
SUITE_COMPLETED = "suite_completed"
NO_REGRESSION = "no_regression_vs_incumbent"


def regression_verdict(accuracy: float, incumbents: dict[str, float], tolerance: float) -> tuple[bool, str]:
    """Passed unless accuracy is more than `tolerance` below the best incumbent; and why."""
    if not incumbents:
        return True, "no incumbent in staging or production"
    where, best = max(incumbents.items(), key=lambda kv: kv[1])
    passed = accuracy >= best - tolerance - 1e-9
    return passed, (f"accuracy {accuracy:.4f} {'>=' if passed else '<'} {best:.4f} ({where}) "
                    f"minus tolerance {tolerance}")


@dg.asset(group_name=GROUP, kinds={"python"}, deps=["lora_adapter", "base_model", "eval_tickets"],
          code_version="evaluation-2",
          check_specs=[
              dg.AssetCheckSpec(SUITE_COMPLETED, asset="evaluation_report", blocking=True,
                                description="The suite ran over the whole eval split with no runner errors."),
              dg.AssetCheckSpec(NO_REGRESSION, asset="evaluation_report", blocking=True,
                                description="Tuned accuracy is not below the version holding staging or "
                                            "production by more than registry.regression_tolerance."),
          ],
          description="Suite results for tuned and base model: accuracy overall and by segment, "
                      "fairness gap, safety, latency, cost.")
def evaluation_report(context: dg.AssetExecutionContext, config: ParamsConfig, project: ProjectResource,
                      registry: RegistryResource):
    params = config.to_params(project.params_file)
    result = evaluation_step(params, project.root_path)
    tuned, base = result.tuned, result.base
    suite = f"{tuned['suite']['name']}@{tuned['suite']['version']}"
    yield dg.MaterializeResult(data_version=dg.DataVersion(tuned["run_id"]), metadata={
        "suite": suite,
        "suite_version": tuned["suite"]["version"],
        "run_id": tuned["run_id"],
        "accuracy": tuned["accuracy"],
        "base_accuracy": base.get("accuracy"),
        **{f"accuracy_{seg}": score for seg, score in sorted(tuned["segment_scores"].items())},
        "segment_accuracy": dg.MetadataValue.json(tuned["segment_scores"]),
        "fairness_gap": tuned["fairness_gap"],
        "latency_ms": dg.MetadataValue.json(tuned["latency_ms"]),
        "passed": tuned["passed"],
        "failed_checks": dg.MetadataValue.json(tuned["failed_checks"]),
        "dataset_version": tuned["dataset"].get("version"),
    })
    yield dg.AssetCheckResult(check_name=SUITE_COMPLETED, passed=tuned["n"] > 0 and tuned["errors"] == 0,
                              metadata={"rows": tuned["n"], "errors": tuned["errors"]})
    reg = registry.open()
    incumbents = incumbent_scores(reg, name=params.registry.name)
    passed, why = regression_verdict(tuned["accuracy"], incumbents, params.registry.regression_tolerance)
    metadata = {"accuracy": tuned["accuracy"], "incumbents": dg.MetadataValue.json(incumbents),
                "tolerance": params.registry.regression_tolerance, "why": why}
    if not passed:
        candidate = record_rejected_candidate(context, params, project, registry, why)
        metadata["candidate"] = candidate
        context.log.warning(f"{NO_REGRESSION} failed: {why}; candidate {candidate} recorded in the registry")
    yield dg.AssetCheckResult(check_name=NO_REGRESSION, passed=passed, metadata=metadata,
                              description=why)


def record_rejected_candidate(context, params, project: ProjectResource, registry: RegistryResource,
                              why: str) -> str:
    """Register the stopped candidate (development) with an eval that names the failed check."""
    import json

    reg = registry.open()
    out = project.path(params.eval.out)
    report = json.loads(out.read_text(encoding="utf-8"))
    tuned = report["tuned"]
    tuned["passed"] = False
    tuned["failed_checks"] = [*tuned["failed_checks"], NO_REGRESSION]
    tuned.setdefault("pipeline_checks", {})[NO_REGRESSION] = {"passed": False, "detail": why}
    out.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    registration = register_release(reg, params, project.root_path, actor=registry.actor,
                                    run_id=context.run.run_id, pipeline="dagster")
    return registration.entry.ref
