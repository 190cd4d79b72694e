"""The evaluation step: the eval suite on the tuned and the base model, with pinned kernels.

Writes `eval.out` (the full reports: run ids, timings, checks; what the registry records)
and two small tracked files with numbers only for `dvc metrics diff` / `dvc plots show`:
`eval.scores_path` (accuracy overall and by segment, fairness gap) and
`eval.segments_plot` (one row per segment).

    python -m training.evaluation [--params params.yaml]
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.errors import TrainingError
from training.kernels import run_pinned
from training.outputs import write_json, write_text
from training.params import DEFAULT_PARAMS_PATH, Params, load_params


@dataclass(frozen=True)
class EvaluationResult:
    report_path: Path
    tuned: dict[str, Any]  # evals.run.EvalReport.to_dict() of the tuned model
    base: dict[str, Any]

    @property
    def passed(self) -> bool:
        return bool(self.tuned["passed"])


def _previous_suite(out: Path, name: str) -> tuple[str, str] | None:
    try:
        record = json.loads(out.read_text(encoding="utf-8"))["tuned"]["suite"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if record.get("name") == name and isinstance(record.get("version"), str) and isinstance(record.get("digest"), str):
        return record["version"], record["digest"]
    return None


def scores(tuned: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """Numbers only: what `dvc metrics diff` compares between commits."""
    return {"accuracy": tuned["accuracy"], "base_accuracy": base.get("accuracy"),
            "fairness_gap": tuned["fairness_gap"], "segments": dict(sorted(tuned["segment_scores"].items()))}


def _evaluate_in_child(params: Params, root: Path) -> EvaluationResult:
    from evals.checksums import dataset_version_id
    from evals.policy import load_policy
    from evals.run import EvalError, run_suite
    from evals.runners import RunnerError, make_runner
    from evals.schema import SchemaError
    from evals.suite import check_recorded, load_suite
    from llmreg.registry.prompts import PromptError
    from training.determinism import deterministic_run

    ev = params.eval
    out = root / ev.out
    try:
        suite = load_suite(root / ev.suite)
        recorded = _previous_suite(out, suite.name)
        if recorded is not None:
            check_recorded(suite, recorded_version=recorded[0], recorded_digest=recorded[1])
        template = suite.load_prompt(root)
        policy = load_policy(root / suite.safety.policy) if suite.safety else None
        data_path = root / suite.dataset.path
        if not data_path.is_file():
            raise TrainingError(f"evaluation: dataset {data_path} not found; run the splits step first")
        from training.outputs import read_parquet

        df = read_parquet(data_path)
        runner = make_runner("transformers", base_dir=str(root / params.base_model.output_dir),
                             adapter_dir=str(root / params.lora.output_dir), batch_size=ev.batch_size,
                             num_threads=ev.threads, device="cpu")
        reports = {}
        with deterministic_run(0, ev.threads):
            for label, variant in (("tuned", runner), ("base", runner.base_variant())):
                reports[label] = run_suite(suite, variant, df, target={"variant": label, **variant.describe()},
                                           dataset_version=dataset_version_id(data_path), root=root,
                                           prompt=template, policy=policy).to_dict()
    except (SchemaError, PromptError, EvalError, RunnerError) as exc:
        raise TrainingError(f"evaluation: {exc}") from None
    tuned, base = reports["tuned"], reports["base"]
    write_json({**reports, "tuned_minus_base": {"accuracy": tuned["accuracy"] - base["accuracy"]}}, out)
    numbers = scores(tuned, base)
    write_json(numbers, root / ev.scores_path)
    write_text("segment,accuracy\n" + "".join(f"{k},{v}\n" for k, v in numbers["segments"].items()),
               root / ev.segments_plot)
    return EvaluationResult(out, tuned, base)


def evaluation_step(params: Params, root: Path = Path(".")) -> EvaluationResult:
    """Evaluate models/base + models/adapter under `root`; a failed suite is a result, not an error."""
    return run_pinned(_evaluate_in_child, params, Path(root).resolve())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Evaluate the tuned and the base model with the eval suite.")
    parser.add_argument("--params", default=DEFAULT_PARAMS_PATH)
    args = parser.parse_args(argv)
    try:
        result = evaluation_step(load_params(args.params))
    except TrainingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"tuned accuracy {result.tuned['accuracy']:.3f} (base {result.base['accuracy']:.3f}): "
          + ("PASSED" if result.passed else "FAILED " + ", ".join(result.tuned["failed_checks"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
