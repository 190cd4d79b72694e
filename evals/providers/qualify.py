"""Qualification: run a family's pinned suite against one provider snapshot over HTTP.

    qualifying -> (run the suite with the OpenAI-compatible runner) -> qualified | rejected | failed

`failed` is recorded instead of a verdict when the evidence cannot be trusted: any request
that still failed after retries (timeouts, 5xx, malformed bodies, unknown model), or a
provider that answered with a different model than the snapshot asked for. Its eval report
(when there is one) is the evidence either way.

When a snapshot qualifies and a production entry named in providers.yaml pins an older
snapshot of the same provider, a draft version of that entry (the production tuple with the
new snapshot: a major bump) is registered in the same transaction as the verdict, with the
eval as its evidence. It starts in development; the staging sensor may take it to staging,
and nothing here promotes it further.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from evals.providers.config import ProviderConfig, ProvidersConfig, ProvidersConfigError

ACTOR = "system:provider-qualification"


@dataclass
class QualificationResult:
    provider: str
    snapshot: str
    status: str  # qualified | rejected | failed
    run_id: str
    suite: str | None = None
    score: float | None = None
    passed: bool | None = None
    failed_checks: list[str] = field(default_factory=list)
    detail: str | None = None
    drafts: list[str] = field(default_factory=list)
    rows: int = 0
    seconds: float = 0.0
    throughput_per_s: float | None = None
    report: dict[str, Any] | None = None

    @property
    def key(self) -> str:
        return f"{self.provider}/{self.snapshot}"

    def to_dict(self, *, with_report: bool = False) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "report"}
        out["key"] = self.key
        if with_report:
            out["report"] = self.report
        return out

    def summary(self) -> str:
        if self.status == "failed":
            return f"{self.key}: failed ({self.detail})"
        drafts = f"; drafted {', '.join(self.drafts)}" if self.drafts else ""
        checks = f" (failed: {', '.join(self.failed_checks)})" if self.failed_checks else ""
        return f"{self.key}: {self.status}, {self.suite} score {self.score:.3f}{checks}{drafts}"


def _runner(provider: ProviderConfig, family: Any, snapshot: str) -> Any:
    from evals.runners import make_runner

    return make_runner("openai", model=snapshot, base_url=provider.base_url, api_key=provider.api_key(),
                       mode=family.mode, max_tokens=family.max_tokens, timeout_s=provider.timeout_s,
                       max_retries=provider.max_retries, backoff_s=provider.backoff_s,
                       concurrency=provider.concurrency)


def _load_suite(family: Any, root: Path) -> tuple[Any, Any, Any, str]:
    """(suite, template, eval frame, dataset version) or ProvidersConfigError: before any write."""
    import pandas as pd

    from evals.checksums import dataset_version_id
    from evals.schema import SchemaError
    from evals.suite import load_suite

    try:
        suite = load_suite(root / family.suite)
        template = suite.load_prompt(root)
    except SchemaError as exc:
        raise ProvidersConfigError(f"family {family.name}: {exc}", field=exc.field) from None
    if suite.version != family.suite_version:
        raise ProvidersConfigError(
            f"family {family.name}: suite_version: suite {family.suite} is {suite.ref}, but providers.yaml pins "
            f"version {family.suite_version}; qualify with the pinned suite, or update suite_version deliberately",
            field="suite_version")
    data_path = root / suite.dataset.path
    if not data_path.is_file():
        raise ProvidersConfigError(f"family {family.name}: eval split {data_path} of {suite.ref} not found; "
                                   "run `dvc repro` (or `make demo`) first", field="dataset.path")
    frame = pd.read_parquet(data_path)
    return suite, template, frame, dataset_version_id(data_path)


def qualify_snapshot(reg: Any, config: ProvidersConfig, provider_name: str, snapshot: str, *,
                     actor: str = ACTOR, root: str | Path = ".", trigger: str = "manual",
                     run_id: str | None = None, runner_factory: Callable[..., Any] | None = None,
                     tags: dict[str, str] | None = None) -> QualificationResult:
    """Qualify one snapshot the registry has seen; record qualifying, then the verdict or failure.

    Configuration problems (unknown provider, unpinned suite version, missing key or data)
    raise ProvidersConfigError before anything is written. Provider problems never raise:
    they end as a recorded `failed` and are returned.
    """
    from evals.run import EvalError, run_suite
    from evals.runners import RunnerError
    from llmreg.registry.errors import Conflict, RegistryError
    from llmreg.registry.providers import FAILED, QUALIFIED, QUALIFYING, REJECTED

    root = Path(root)
    provider = config.provider(provider_name)
    record = reg.provider_snapshot(provider.name, snapshot)  # NotFound: never seen, discover first
    family = provider.family(record.family) if record.family else provider.family_of(snapshot)
    if family is None:
        raise ProvidersConfigError(f"{config.source}: families: no family of provider {provider.name} follows "
                                   f"{snapshot!r}; add a family whose prefix/pattern matches it", field="families")
    suite, template, frame, dataset_version = _load_suite(family, root)
    runner = (runner_factory or _runner)(provider, family, snapshot)
    run_id = run_id or f"pq-{uuid.uuid4().hex[:16]}"
    base = dict(family=family.name, suite=suite.ref, run=run_id)
    info = {"trigger": trigger, **({"info": dict(tags)} if tags else {})}
    reg.record_provider_snapshot(provider.name, snapshot, QUALIFYING, actor=actor, **base, **info)
    result = QualificationResult(provider.name, snapshot, FAILED, run_id, suite=suite.ref)

    began = time.perf_counter()
    try:
        report = run_suite(suite, runner, frame, target={}, dataset_version=dataset_version, root=root,
                           prompt=template, run_id=run_id)
    except (EvalError, RunnerError, OSError, ValueError) as exc:
        result.seconds = time.perf_counter() - began
        result.detail = f"the suite could not run: {type(exc).__name__}: {exc}"
        reg.record_provider_snapshot(provider.name, snapshot, FAILED, actor=actor, detail=result.detail, **base)
        return result
    result.seconds = time.perf_counter() - began
    report.target = {"provider": provider.name, "snapshot": snapshot, **runner.describe()}
    data = report.to_dict()
    result.report, result.rows, result.throughput_per_s = data, report.n, report.throughput_per_s
    problem = _untrustworthy(report, snapshot)
    if problem is not None:
        result.detail = problem
        reg.record_provider_snapshot(provider.name, snapshot, FAILED, actor=actor, detail=problem, report=data, **base)
        return result

    status = QUALIFIED if report.passed else REJECTED
    failure: Exception | None = None
    for attempt in (1, 2):
        drafts: list[Any] = []
        try:
            drafts = draft_specs(reg, config, provider, family, snapshot, data) if status == QUALIFIED else []
            event = reg.record_provider_snapshot(
                provider.name, snapshot, status, actor=actor, score=report.accuracy, passed=report.passed,
                failed_checks=report.failed_checks, report=data, drafts=drafts, **base)
            failure = None
            break
        except Conflict as exc:
            failure = exc
            if attempt == 1 and drafts:
                continue  # a concurrent run registered the same draft first: look again, never draft twice
            break
        except RegistryError as exc:  # e.g. a draft the registry refuses: the verdict and drafts go together
            failure = exc
            break
    if failure is not None:
        result.detail = f"the verdict ({status}) could not be recorded: {type(failure).__name__}: {failure}"
        reg.record_provider_snapshot(provider.name, snapshot, FAILED, actor=actor, detail=result.detail,
                                     report=data, **base)
        return result
    result.status, result.score, result.passed = status, report.accuracy, report.passed
    result.failed_checks = list(report.failed_checks)
    result.drafts = list(event.payload.get("drafts", ()))
    return result


def _untrustworthy(report: Any, snapshot: str) -> str | None:
    if report.errors:
        first = report.error_samples[0]["error"] if report.error_samples else "unknown error"
        return f"{report.errors} of {report.n} requests failed after retries (first: {first})"
    served = [s for s in report.target.get("snapshots", []) if s != snapshot]
    if served:
        return f"the provider answered with model {', '.join(served)} when asked for {snapshot}: not this snapshot"
    return None


def draft_specs(reg: Any, config: ProvidersConfig, provider: ProviderConfig, family: Any, snapshot: str,
                report: dict[str, Any]) -> list[Any]:
    """Draft specs for each entry of `family` whose production version pins an older snapshot."""
    from llmreg.registry.api import normalise_eval_report
    from llmreg.registry.entry import EntrySpec
    from llmreg.registry.errors import NotFound
    from llmreg.registry.providers import is_newer, snapshot_key

    log = {r.key: r for r in reg.provider_log(provider=provider.name)}
    candidate = log.get(snapshot_key(provider.name, snapshot))
    drafts = []
    for pin in family.entries:
        try:
            holder = reg.resolve(pin.name, pin.env).entry
        except NotFound:
            continue  # nothing in production there: nothing to replace
        model = holder.spec.model
        if model.provider != provider.name or model.request_id == snapshot:
            continue
        if not is_newer(candidate, log.get(snapshot_key(provider.name, model.request_id))):
            continue
        if any(e.spec.model.request_id == snapshot and e.spec.model.provider == provider.name
               for e in reg.list_entries(pin.name)):
            continue  # a version pinning this snapshot exists already (an earlier draft)
        spec = holder.spec.to_dict()
        spec["model"] = _repinned(model, snapshot)
        spec["eval"] = normalise_eval_report(report)
        spec["lineage"] = {**spec.get("lineage", {}), "provider_snapshot": snapshot_key(provider.name, snapshot),
                           "qualification_run": report["run_id"], "drafted_from": holder.ref}
        spec["description"] = (f"Draft: {holder.ref} with {provider.name} snapshot {snapshot} (was "
                               f"{model.request_id}), qualified by {report['suite']['name']}@"
                               f"{report['suite']['version']} run {report['run_id']}. Needs review.")
        drafts.append(EntrySpec.from_dict(spec))
    return drafts


def _repinned(model: Any, snapshot: str) -> dict[str, Any]:
    """The production model ref moved to `snapshot` (content pins of the old one dropped)."""
    out = {k: v for k, v in model.to_dict().items() if k not in ("sha256", "revision", "uri")}
    if model.snapshot is not None and model.snapshot != model.id:
        out["snapshot"] = snapshot  # id names the family, snapshot the pin
    else:
        out["id"] = snapshot
        if model.snapshot is not None:
            out["snapshot"] = snapshot
    return out


def qualify_key(reg: Any, config: ProvidersConfig, key: str, **kwargs: Any) -> QualificationResult:
    """qualify_snapshot for a change-log / partition key 'provider/snapshot'."""
    from llmreg.registry.providers import parse_snapshot_key

    provider, snapshot = parse_snapshot_key(key)
    return qualify_snapshot(reg, config, provider, snapshot, **kwargs)


def reevaluate(reg: Any, config: ProvidersConfig, *, actor: str = ACTOR, root: str | Path = ".",
               trigger: str = "schedule") -> list[QualificationResult]:
    """Re-run the pinned suites against every followed, listed snapshot (one at a time)."""
    from evals.providers.sync import followed_snapshots

    return [qualify_snapshot(reg, config, record.provider, record.snapshot, actor=actor, root=root, trigger=trigger)
            for record in followed_snapshots(reg, config)]
