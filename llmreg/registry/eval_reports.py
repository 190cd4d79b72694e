"""Eval reports as the registry reads them: the score, the report's own verdict, what it evaluated.

A report arrives as EvalRef fields ({suite, score, segments, run, ...}) or as evals/run.py's
EvalReport.to_dict() ({run_id, suite: {name, version, threshold}, accuracy, segment_scores,
passed, failed_checks, target, ...}). The eval.recorded event keeps it as given; from it the
registry reads three things:

- `normalise_eval_report`: the EvalRef dict the gates score (suite, score, segments, run);
- `report_verdict`: whether the report passed its own suite checks (fairness, safety,
  latency, cost...): a report that failed them cannot certify a version for staging, however
  high its score;
- `target_mismatches`: the model/adapter digests the report says it evaluated
  (`target.base_model_sha256`, `target.adapter_sha256`, ...) that are not this version's,
  so an old eval cannot certify new bytes.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from .errors import BadInput
from .fields import SHA256_RE, show, type_name

TYPE_CHECKING = False  # the idiom that keeps `typing` out of run-time imports
if TYPE_CHECKING:
    from typing import Any

    from .spec import EntrySpec

# target key -> what it names. evals/runners: transformers/vllm describe() give base_model_sha256
# and adapter_sha256; base_sha256, model_sha256 and sha256 are the short forms callers write.
TARGET_DIGESTS: Mapping[str, str] = {
    "adapter_sha256": "adapter",
    "base_model_sha256": "base model",
    "base_sha256": "base model",
    "model_sha256": "model",
    "sha256": "model",
}


def normalise_eval_report(report: Any) -> dict[str, Any]:
    """An eval report (EvalRef form, or evals/run.py's EvalReport.to_dict()) -> EvalRef dict."""
    from .spec import EvalRef

    if not isinstance(report, Mapping):
        raise BadInput(f"report: expected a mapping with suite and score, got {type(report).__name__}", field="report")
    suite: Any = report.get("suite")  # EvalRef checks it
    suite_version = report.get("suite_version")
    threshold = report.get("threshold")
    if isinstance(suite, Mapping):
        suite_version = suite_version or suite.get("version")
        threshold = threshold if threshold is not None else suite.get("threshold")
        suite = suite.get("name")
    score = report.get("score", report.get("accuracy"))
    segments = report.get("segments", report.get("segment_scores")) or {}
    run = report.get("run", report.get("run_id"))
    moment = report.get("time", report.get("finished_at"))
    try:
        ref = EvalRef(suite=suite, suite_version=None if suite_version is None else str(suite_version), score=score,
                      segments=segments, run=run, time=moment, threshold=threshold)
    except BadInput as exc:
        raise BadInput(f"report.{exc}", field=f"report.{exc.field}") from None
    return ref.to_dict()


# ---------------------------------------------------------------------------- the verdict


def check_verdict(report: Mapping[str, Any]) -> None:
    """Refuse a verdict the registry could misread: `passed` must be a boolean, `failed_checks` names."""
    passed = report.get("passed")
    if passed is not None and not isinstance(passed, bool):
        raise BadInput(f"report.passed: {show(passed)} is not true or false; record the suite's verdict as a boolean",
                       field="report.passed")
    failed = report.get("failed_checks")
    if failed is None:
        return
    if isinstance(failed, str) or not isinstance(failed, Sequence) or not all(isinstance(c, str) for c in failed):
        raise BadInput(f"report.failed_checks: expected a list of check names (e.g. [fairness]), got "
                       f"{type_name(failed)} {show(failed)}", field="report.failed_checks")


def report_verdict(report: Any) -> dict[str, Any]:
    """{"passed": bool, "failed_checks": [...]} as far as the report states them; {} when it does not.

    Read leniently (the projection replays old events with it): a report passed only when it
    says so and names no failed check; failed checks come from `failed_checks`, else from
    `checks: {name: {passed: false}}`.
    """
    if not isinstance(report, Mapping):
        return {}
    failed = report.get("failed_checks")
    if isinstance(failed, str):
        names = [failed] if failed else []
    elif isinstance(failed, Sequence):
        names = [str(name) for name in failed if name is not None]
    else:
        checks = report.get("checks")
        names = ([str(name) for name, check in checks.items() if isinstance(check, Mapping) and check.get("passed") is False]
                 if isinstance(checks, Mapping) else [])
    out: dict[str, Any] = {}
    passed = report.get("passed")
    if isinstance(passed, bool):
        out["passed"] = passed and not names
    elif names:
        out["passed"] = False
    if names:
        out["failed_checks"] = names
    return out


# ---------------------------------------------------------------------------- what it evaluated


def target_digests(report: Any) -> dict[str, str | None]:
    """{target key: digest or None} for the digest keys `report.target` carries (None: "none evaluated")."""
    target = report.get("target") if isinstance(report, Mapping) else None
    if not isinstance(target, Mapping):
        return {}
    out: dict[str, str | None] = {}
    for key in TARGET_DIGESTS:
        if key not in target:
            continue
        value = target[key]
        if value is None:
            out[key] = None
            continue
        if not isinstance(value, str) or not SHA256_RE.match(value.lower()):
            raise BadInput(f"report.target.{key}: {show(value)} is not a SHA-256 digest (64 hex digits)",
                           field=f"report.target.{key}")
        out[key] = value.lower()
    return out


def _pinned(spec: "EntrySpec") -> dict[str, list[tuple[str, str]]]:
    """The version's digests by what they are: [(label, sha256), ...] per target kind."""
    model = [(f"model {spec.model.id!r}", spec.model.sha256)] if spec.model.sha256 else []
    adapters = [(f"adapter artifact {a.name!r}", a.sha256) for a in spec.artifacts if a.kind == "adapter"]
    weights = [(f"{a.kind} artifact {a.name!r}", a.sha256) for a in spec.artifacts if a.kind == "weights"]
    everything = model + [(f"{a.kind} artifact {a.name!r}", a.sha256) for a in spec.artifacts]
    return {"adapter": adapters, "base model": model + weights, "model": everything, "any": everything}


def target_mismatches(spec: "EntrySpec", report: Any) -> list[str]:
    """One line per digest in `report.target` that is not this version's; [] when all match.

    Each digest is compared with the version's parts of that kind (adapter_sha256 with its
    adapter artifacts, base_model_sha256 with the model sha256 and weights artifacts); when
    the version has no part of that kind, with every digest it pins. A version that pins no
    digest at all cannot contradict a report (a hosted model is pinned by snapshot).
    `adapter_sha256: null` (evaluated without an adapter) contradicts a version with one.
    """
    pinned = _pinned(spec)
    out = []
    for key, digest in target_digests(report).items():
        kind = TARGET_DIGESTS[key]
        if digest is None:
            if kind == "adapter" and pinned["adapter"]:
                label, sha = pinned["adapter"][0]
                out.append(f"report.target.{key} is null (evaluated without an adapter), but the version pins "
                           f"{label} sha256 {sha}")
            continue
        candidates = pinned[kind] or pinned["any"]
        if not candidates or any(sha == digest for _, sha in candidates):
            continue
        named = ", ".join(f"{label} sha256 {sha}" for label, sha in candidates)
        if pinned[kind]:
            out.append(f"report.target.{key} {digest} does not match the version's {named}")
        else:
            out.append(f"report.target.{key} {digest} matches nothing the version pins (no {kind}; it pins {named})")
    return out
