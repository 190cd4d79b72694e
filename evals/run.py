"""Run an eval suite against a runner and judge it: `run_suite` (the one implementation
Dagster assets and the DVC stage both call) and `main` (the DVC stage).

    python -m evals.run --suite evals/suites/triage-eval.yaml \\
        --base models/base --adapter models/adapter --out metrics/eval.json

The stage evaluates the tuned model and the base model, writes both to one JSON file
(`{"tuned": ..., "base": ...}`) and exits 1 when the tuned model fails the suite.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import os
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from evals import scorers
from evals.checksums import dataset_version_id
from evals.policy import SafetyPolicy, load_policy
from evals.runners import RUNNER_KINDS, Runner, RunnerError, make_runner
from evals.schema import SchemaError
from evals.suite import Suite, check_recorded, load_suite
from llmreg.registry.prompts import PromptError, PromptTemplate

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger("evals.run")

ERROR_SAMPLES = 5  # enough to see what went wrong without bloating the metrics file


class EvalError(ValueError):
    """The dataset or the runner's output does not fit the suite."""


@dataclass
class CheckResult:
    name: str
    passed: bool
    value: float | None
    bound: float
    detail: str


@dataclass
class EvalReport:
    run_id: str
    suite: dict[str, Any]
    prompt: dict[str, Any]
    policy: dict[str, Any] | None
    dataset: dict[str, Any]
    target: dict[str, Any]
    runner: str
    n: int
    errors: int
    error_samples: list[dict[str, Any]]
    accuracy: float
    segment_scores: dict[str, float]
    fairness_gap: float | None
    fairness_within_bound: bool | None
    safety_violation_rate: float | None
    refusal_rate: float | None
    latency_ms: dict[str, float | None]
    tokens: dict[str, int]
    cost_usd: float
    cost_per_1k_usd: float
    throughput_per_s: float
    checks: list[CheckResult]
    passed: bool
    failed_checks: list[str]
    started_at: str
    finished_at: str
    pricing: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["checks"] = {c.name: {k: v for k, v in dataclasses.asdict(c).items() if k != "name"}
                          for c in self.checks}
        return data

    def summary(self) -> str:
        verdict = "PASSED" if self.passed else "FAILED " + ", ".join(
            f"{c.name} ({c.detail})" for c in self.checks if not c.passed
        )
        return (
            f"{self.suite['name']}@{self.suite['version']}: accuracy {self.accuracy:.3f} "
            f"on {self.n} rows, {self.errors} errors: {verdict}"
        )


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _frame_version(df: "pd.DataFrame", columns: list[str]) -> str:
    """A content hash of the rows evaluated, for frames that come without a version id."""
    rows = df[columns].astype(str).to_dict(orient="split")
    blob = json.dumps({"columns": columns, "data": rows["data"]}, ensure_ascii=False)
    return "rows-sha256:" + hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _check_dataset(suite: Suite, df: "pd.DataFrame", template: PromptTemplate) -> list[str]:
    ds = suite.dataset
    needed = [ds.input_column, ds.label_column]
    needed += [c for c in (suite.segment_column, ds.id_column) if c]
    needed += [v for v in template.variables if v not in needed]
    for column in needed:
        if column not in df.columns:
            raise EvalError(
                f"dataset has no column {column!r} (needed by suite {suite.ref}; it has "
                f"{list(df.columns)}): pass the split the suite names or fix the suite's columns"
            )
    if len(df) == 0:
        raise EvalError(f"dataset for suite {suite.ref} is empty: pass a non-empty eval split")
    if ds.labels:
        allowed = {scorers.normalise(label) for label in ds.labels}
        unknown = sorted({str(v) for v in df[ds.label_column] if scorers.normalise(str(v)) not in allowed})
        if unknown:
            raise EvalError(
                f"dataset column {ds.label_column!r} has labels {unknown[:5]} not in the suite's "
                f"dataset.labels {list(ds.labels)}: fix the data or extend the label set (bump the suite version)"
            )
    return needed


def run_suite(
    suite: Suite,
    runner: Runner,
    dataset_df: "pd.DataFrame",
    *,
    target: dict[str, Any],
    dataset_version: str | None,
    root: str | Path = ".",
    prompt: PromptTemplate | None = None,
    policy: SafetyPolicy | None = None,
    pricing: dict[str, float] | None = None,
    run_id: str | None = None,
) -> EvalReport:
    """Render the suite's prompts over `dataset_df`, generate with `runner`, score, judge.

    `target` says what was evaluated (model checksums or provider snapshot); when empty,
    the runner's own description is used. Paths in the suite resolve against `root`.
    """
    root = Path(root)
    template = prompt or suite.load_prompt(root)
    if policy is None and suite.safety is not None:
        policy = load_policy(root / suite.safety.policy)
    columns = _check_dataset(suite, dataset_df, template)
    ds = suite.dataset
    records = dataset_df.to_dict(orient="records")
    prompts = [template.render(**{v: str(row[v]) for v in template.variables}) for row in records]
    labels = [str(row[ds.label_column]) for row in records]
    segments = [row[suite.segment_column] for row in records] if suite.segment_column else None

    run_id = run_id or uuid.uuid4().hex
    started_at = _utc_now()
    began = time.perf_counter()
    completions = runner.generate(prompts)
    wall_s = time.perf_counter() - began
    finished_at = _utc_now()
    if len(completions) != len(prompts):
        raise EvalError(
            f"runner {runner.name} returned {len(completions)} completions for {len(prompts)} "
            "prompts: the runner breaks its contract (one per prompt, in order)"
        )

    n = len(prompts)
    predictions = [c.text if c.ok else "" for c in completions]  # a failed request is wrong
    ok_outputs = [c.text for c in completions if c.ok]
    failed = [(i, c) for i, c in enumerate(completions) if not c.ok]
    error_samples = [
        {"row": (records[i][ds.id_column] if ds.id_column else i), "error": c.error}
        for i, c in failed[:ERROR_SAMPLES]
    ]

    accuracy = scorers.accuracy(predictions, labels)
    segment_scores = scorers.segment_accuracy(predictions, labels, segments) if segments else {}
    gap = scorers.fairness_gap(segment_scores) if suite.fairness_max_gap is not None else None
    violation = scorers.violation_rate(ok_outputs, policy) if policy else None
    refusals = scorers.refusal_rate(ok_outputs, policy) if policy else None
    latency = scorers.latency_percentiles([c.latency_ms for c in completions if c.ok])
    usage = scorers.token_usage(
        [c.prompt_tokens for c in completions], [c.completion_tokens for c in completions]
    )
    prices = pricing or runner.pricing() or dataclasses.asdict(suite.pricing)
    cost = scorers.cost_usd(
        usage,
        prompt_usd_per_1k_tokens=float(prices.get("prompt_usd_per_1k_tokens", 0.0)),
        completion_usd_per_1k_tokens=float(prices.get("completion_usd_per_1k_tokens", 0.0)),
    )
    cost_1k = scorers.cost_per_1k_examples(cost, n)

    checks = [
        CheckResult(
            "threshold", accuracy >= suite.threshold, accuracy, suite.threshold,
            f"accuracy {accuracy:.3f} {'>=' if accuracy >= suite.threshold else '<'} {suite.threshold}",
        )
    ]
    if gap is not None:
        within = gap <= suite.fairness_max_gap + 1e-12
        checks.append(CheckResult(
            "fairness", within, gap, suite.fairness_max_gap,
            f"segment gap {gap:.3f} {'<=' if within else '>'} {suite.fairness_max_gap}",
        ))
    if violation is not None:
        bound = suite.safety.max_violation_rate
        checks.append(CheckResult(
            "safety", violation <= bound, violation, bound,
            f"violation rate {violation:.3f} {'<=' if violation <= bound else '>'} {bound}",
        ))
    if suite.budgets.latency_p99_ms is not None:
        bound, p99 = suite.budgets.latency_p99_ms, latency["p99"]
        ok = p99 is not None and p99 <= bound
        detail = "no request succeeded" if p99 is None else f"p99 {p99:.1f}ms {'<=' if ok else '>'} {bound}ms"
        checks.append(CheckResult("latency_budget", ok, p99, bound, detail))
    if suite.budgets.cost_per_1k_usd is not None:
        bound = suite.budgets.cost_per_1k_usd
        ok = cost_1k <= bound + 1e-12
        checks.append(CheckResult(
            "cost_budget", ok, cost_1k, bound,
            f"${cost_1k:.4f} per 1k examples {'<=' if ok else '>'} ${bound}",
        ))
    failed_checks = [c.name for c in checks if not c.passed]

    return EvalReport(
        run_id=run_id,
        suite={"name": suite.name, "version": suite.version, "digest": suite.digest,
               "source": suite.source, "threshold": suite.threshold,
               "fairness_max_gap": suite.fairness_max_gap},
        prompt={"ref": template.ref, "sha256": template.sha256},
        policy={"ref": policy.ref, "digest": policy.digest} if policy else None,
        dataset={"path": ds.path, "version": dataset_version or _frame_version(dataset_df, columns),
                 "rows": n},
        target=dict(target) if target else runner.describe(),
        runner=runner.name,
        n=n,
        errors=len(failed),
        error_samples=error_samples,
        accuracy=accuracy,
        segment_scores=segment_scores,
        fairness_gap=gap,
        fairness_within_bound=None if gap is None else "fairness" not in failed_checks,
        safety_violation_rate=violation,
        refusal_rate=refusals,
        latency_ms=latency,
        tokens=usage.to_dict(),
        cost_usd=cost,
        cost_per_1k_usd=cost_1k,
        throughput_per_s=n / wall_s if wall_s > 0 else float(n),
        checks=checks,
        passed=not failed_checks,
        failed_checks=failed_checks,
        started_at=started_at,
        finished_at=finished_at,
        pricing={k: float(v) for k, v in prices.items()},
    )


# -- the DVC stage ------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m evals.run", description="Evaluate a tuned (and base) model against an eval suite; write metrics JSON.")
    p.add_argument("--suite", required=True, help="suite YAML, e.g. evals/suites/triage-eval.yaml")
    p.add_argument("--base", required=True, help="base model directory (save_pretrained output)")
    p.add_argument("--adapter", help="LoRA adapter directory; omit to evaluate the base model only")
    p.add_argument("--out", required=True, help="metrics JSON to write, e.g. metrics/eval.json")
    p.add_argument("--previous", help="earlier metrics JSON whose suite digest must match unless the "
                   "suite version was bumped (default: --out; DVC deletes outs before a run unless persist: true)")
    p.add_argument("--dataset", help="eval split to use instead of the suite's dataset.path")
    p.add_argument("--dataset-version", help="dataset version id (e.g. a lakeFS commit); default: md5 of the file, as DVC records it")
    p.add_argument("--root", default=".", help="project root the suite's paths are relative to")
    p.add_argument("--runner", choices=[k for k in RUNNER_KINDS if k != "openai"], default="auto",
                   help="auto = vllm where installed with a GPU, else transformers")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-new-tokens", type=int, default=1)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (transformers runner)")
    p.add_argument("--device", default="cpu", help="torch device for the transformers runner")
    p.add_argument("--skip-base", action="store_true", help="do not also evaluate the base model")
    p.add_argument("--no-fail", action="store_true", help="exit 0 even when the suite fails")
    return p


def _previous_record(out: Path, suite: Suite) -> tuple[str, str] | None:
    """(version, digest) of this suite in an earlier metrics file, if there is one."""
    try:
        previous = json.loads(out.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    for key in ("tuned", "base"):
        record = previous.get(key, {}).get("suite", {}) if isinstance(previous, dict) else {}
        if isinstance(record, dict) and record.get("name") == suite.name:
            if isinstance(record.get("version"), str) and isinstance(record.get("digest"), str):
                return record["version"], record["digest"]
    return None


def write_json_atomic(path: Path, payload: Any) -> None:
    """Write to a temp file beside `path`, then rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, indent=2, sort_keys=True)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _build_runner(args: argparse.Namespace, adapter: str | None) -> Runner:
    cfg: dict[str, Any] = {
        "base_dir": args.base,
        "adapter_dir": adapter,
        "batch_size": args.batch_size,
        "max_new_tokens": args.max_new_tokens,
    }
    if args.runner == "transformers" or (args.runner == "auto" and _vllm_missing()):
        cfg.update(num_threads=args.threads, device=args.device)
        return make_runner("transformers", **cfg)
    return make_runner("vllm", **cfg)


def _vllm_missing() -> bool:
    from evals.runners.vllm_runner import vllm_unavailable_reason

    return vllm_unavailable_reason() is not None


def _quiet_library_progress_bars() -> None:
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        return
    hf_logging.disable_progress_bar()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    out, root = Path(args.out), Path(args.root)
    _quiet_library_progress_bars()  # our own progress lines are enough in a DVC log
    try:
        import pandas as pd

        suite = load_suite(args.suite)
        recorded = _previous_record(Path(args.previous) if args.previous else out, suite)
        if recorded is not None:
            check_recorded(suite, recorded_version=recorded[0], recorded_digest=recorded[1])
        template = suite.load_prompt(root)
        policy = load_policy(root / suite.safety.policy) if suite.safety else None
        data_path = Path(args.dataset) if args.dataset else root / suite.dataset.path
        if not data_path.is_file():
            raise EvalError(f"dataset {data_path} not found: run the split stage (dvc repro) or pass --dataset")
        try:
            df = pd.read_parquet(data_path)
        except Exception as exc:
            raise EvalError(f"dataset {data_path} is not readable Parquet ({exc}): regenerate it") from None
        dataset_version = args.dataset_version or dataset_version_id(data_path)

        variants: list[tuple[str, Runner]] = []
        main_runner = _build_runner(args, args.adapter)
        variants.append(("tuned" if args.adapter else "base", main_runner))
        if args.adapter and not args.skip_base:
            variants.append(("base", main_runner.base_variant()))
    except (SchemaError, PromptError, EvalError, RunnerError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    reports: dict[str, EvalReport] = {}
    for label, runner in variants:
        log.info("evaluating %s model with %s runner on %d rows", label, runner.name, len(df))
        try:
            target = {"variant": label, **runner.describe()}
            reports[label] = run_suite(
                suite, runner, df, target=target, dataset_version=dataset_version,
                root=root, prompt=template, policy=policy,
            )
        except EvalError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        log.info("%s: %s", label, reports[label].summary())

    payload: dict[str, Any] = {label: report.to_dict() for label, report in reports.items()}
    if "tuned" in reports and "base" in reports:
        payload["tuned_minus_base"] = {
            "accuracy": reports["tuned"].accuracy - reports["base"].accuracy
        }
    write_json_atomic(out, payload)
    judged = reports["tuned" if "tuned" in reports else "base"]
    print(judged.summary())
    if not judged.passed and not args.no_fail:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
