"""Evaluation: the eval suite on the tuned and the base model, and the gates as blocking checks.

The checks run inside the asset (`check_specs`), so they read the same run config. A
candidate stopped by `no_regression_vs_incumbent` is still put on the record, as a signed
`candidate.rejected` registry event (the tuple's digests, the check, the scores, the
incumbent it lost to, the eval report as evidence), not as a version: it never gets a version
number or a stage, so nothing can promote it, and the audit timeline shows the attempt.
"""

import dagster as dg

from assets.config import ParamsConfig
from assets.resources import ProjectResource, RegistryResource
from training.evaluation import evaluation_step
from training.release import incumbents, reject_release

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
    reg = registry.open()

    def reject(check: str, why: str, incumbent: str | None = None, **settings) -> str:
        """A stopped candidate goes on the record as a candidate.rejected event; nothing is registered."""
        event = reject_release(reg, params, project.root_path, actor=registry.actor, run_id=context.run.run_id,
                               check=check, detail=why, incumbent=incumbent, context=settings)
        context.log.warning(f"{check} failed: {why}; recorded as registry event #{event.seq} candidate.rejected")
        return f"#{event.seq} {event.type}"

    completed = tuned["n"] > 0 and tuned["errors"] == 0
    metadata = {"rows": tuned["n"], "errors": tuned["errors"]}
    if not completed:
        metadata["rejection"] = reject(SUITE_COMPLETED, f"{tuned['errors']} runner errors over {tuned['n']} rows")
    yield dg.AssetCheckResult(check_name=SUITE_COMPLETED, passed=completed, metadata=metadata)
    held = incumbents(reg, name=params.registry.name)
    tolerance = params.registry.regression_tolerance
    passed, why = regression_verdict(tuned["accuracy"], {where: score for where, (_, score) in held.items()},
                                     tolerance)
    metadata = {"accuracy": tuned["accuracy"], "tolerance": tolerance, "why": why,
                "incumbents": dg.MetadataValue.json({where: {"version": v, "score": score}
                                                     for where, (v, score) in held.items()})}
    if not passed:
        best = max(held.values(), key=lambda version_score: version_score[1])[0]
        metadata["rejection"] = reject(NO_REGRESSION, why, best, tolerance=tolerance)
    yield dg.AssetCheckResult(check_name=NO_REGRESSION, passed=passed, metadata=metadata, description=why)
