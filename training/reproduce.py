"""`llmreg reproduce NAME@VERSION`: rebuild (or restore) a registered version and compare.

The entry's lineage names the project commit and where the chain wrote each component. The
commit is checked out into a temporary git worktree whose DVC cache is this checkout's.
Then either every stage is re-run with `dvc repro --force` (the default: forcing matters,
restoring outputs from the cache would "reproduce" anything), or, with `from_remote`, the
outputs are restored from the DVC remote (`dvc pull`) as a clone that never trained would.
The SHA-256 of each component is compared with the registered one. When bytes differ, the
environment recorded at training is compared with the rebuild's, and the rebuilt model's
eval score with the registered one within the tolerance: "functionally reproduced" or
"different".

Two more checks belong to "is this version still what was registered": the registry's own
stored copies of the pinned files must still hash to the registered digests (`stored`), and
a rebuilt model's eval score (the evaluation stage's report in the worktree) must equal the
registered `eval.score` (`eval`).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from training.errors import TrainingError


@dataclass
class Comparison:
    component: str
    path: str
    expected: str
    actual: str | None
    ok: bool


@dataclass
class ReproduceReport:
    ref: str
    commit: str
    mode: str = "rebuild"  # rebuild | remote
    comparisons: list[Comparison] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    environment_differences: list[str] = field(default_factory=list)
    registered_score: float | None = None
    rebuilt_score: float | None = None
    tolerance: float | None = None
    seconds: float = 0.0
    tree: str | None = None  # the worktree, when kept
    stored: list[Comparison] = field(default_factory=list)  # the registry's stored copies
    eval: Comparison | None = None  # rebuilt vs registered eval score (rebuild mode)

    @property
    def ok(self) -> bool:
        checks = [*self.comparisons, *self.stored, *([self.eval] if self.eval else [])]
        return bool(self.comparisons) and all(c.ok for c in checks)

    @property
    def verdict(self) -> str:
        """bit-for-bit | functionally reproduced | different."""
        if self.ok:
            return "bit-for-bit"
        if all(c.ok for c in self.stored) and None not in (self.registered_score, self.rebuilt_score, self.tolerance) and \
                abs(self.rebuilt_score - self.registered_score) <= self.tolerance + 1e-12:  # type: ignore[operator]
            return "functionally reproduced"
        return "different"

    def to_dict(self) -> dict[str, Any]:
        return {"ref": self.ref, "commit": self.commit, "mode": self.mode, "ok": self.ok, "verdict": self.verdict,
                "seconds": round(self.seconds, 1), "warnings": self.warnings,
                "environment_differences": self.environment_differences,
                "registered_score": self.registered_score, "rebuilt_score": self.rebuilt_score,
                "tolerance": self.tolerance,
                "comparisons": [c.__dict__ for c in self.comparisons],
                "stored": [c.__dict__ for c in self.stored], "eval": self.eval.__dict__ if self.eval else None,
                "tree": self.tree}


def check_stored_copies(entry, artifact_store) -> tuple[list[Comparison], list[str]]:
    """Re-hash the registry's stored copy of every file the entry pins by checksum."""
    from llmreg.registry.artifact_ingest import pinned_files

    comparisons, warnings = [], []
    for component, ref in pinned_files(entry.spec):
        location = artifact_store.locate(ref.sha256)
        if location is None:
            warnings.append(f"{component}: no stored copy in {artifact_store.root}; not checked")
            continue
        try:
            actual = "sha256:" + artifact_store.hash_object(ref.sha256)[0]
        except OSError as exc:
            actual = None
            warnings.append(f"{component}: cannot read the stored copy {location}: {exc}")
        comparisons.append(Comparison(component, location, f"sha256:{ref.sha256}", actual,
                                      actual == f"sha256:{ref.sha256}"))
    return comparisons, warnings


def compare_eval_score(entry, tree: str | Path, eval_out: str = "metrics/eval.json") -> tuple[Comparison | None, list[str]]:
    """The rebuilt model's score (the evaluation stage's report under `tree`) vs the registered one."""
    registered = entry.spec.eval.score if entry.spec.eval is not None else None
    if registered is None:
        return None, ["eval: the entry records no eval score; not compared"]
    path = Path(tree) / eval_out
    try:
        rebuilt = json.loads(path.read_text())["tuned"]["accuracy"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return Comparison("eval.score", eval_out, str(registered), None, False), \
            [f"eval: cannot read the rebuilt score from {eval_out}: {exc}"]
    return Comparison("eval.score", eval_out, str(registered), str(rebuilt), rebuilt == registered), []


def _expected(entry, component: str) -> str | None:
    spec = entry.spec
    if component == "model":
        return spec.model.sha256 and f"sha256:{spec.model.sha256}"
    kind, _, name = component.partition(".")
    if kind == "artifacts":
        for art in spec.artifacts:
            if art.name == name:
                return f"sha256:{art.sha256}"
    if kind == "datasets":
        return spec.datasets.get(name)
    return None


def _actual(path: Path, expected: str) -> str | None:
    from llmreg.registry.artifacts import hash_path
    from training.dvc_versioning import dvc_version_id

    if not path.exists():
        return None
    if expected.startswith("sha256:"):
        return "sha256:" + hash_path(path)[0]
    if expected.startswith("md5:"):
        return dvc_version_id(path)
    return None  # a lakeFS commit id cannot be recomputed from bytes


def compare_outputs(entry, tree: str | Path) -> tuple[list[Comparison], list[str]]:
    """Compare each output the lineage names, under `tree`, with the registered checksum."""
    comparisons, warnings = [], []
    for component, rel in sorted((entry.spec.lineage.get("outputs") or {}).items()):
        expected = _expected(entry, component)
        if expected is None:
            continue
        if not expected.startswith(("sha256:", "md5:")):
            warnings.append(f"{component}: version {expected} is not a content hash; not compared")
            continue
        actual = _actual(Path(tree) / rel, expected)
        comparisons.append(Comparison(component, rel, expected, actual, actual == expected))
    return comparisons, warnings


def explain_difference(entry, tree: Path, report: ReproduceReport) -> None:
    """Environment fields that differ, and the rebuilt score against the registered one."""
    from training.environment import environment_differences, environment_record
    from training.params import load_params

    recorded = entry.spec.lineage.get("environment")
    params = load_params(tree / "params.yaml")
    train = tree / params.lora.metrics_path
    current = json.loads(train.read_text()).get("environment") if train.is_file() else environment_record()
    if recorded and current:
        report.environment_differences = environment_differences(recorded, current)
    elif not recorded:
        report.warnings.append("the entry records no training environment (registered before lineage carried it)")
    # The suite defines no score tolerance of its own; the pipeline's regression tolerance is
    # the same judgement ("this much lower is not a regression").
    report.tolerance = params.registry.regression_tolerance
    report.registered_score = entry.spec.eval.score if entry.spec.eval else None
    out = tree / params.eval.out
    if out.is_file():
        report.rebuilt_score = json.loads(out.read_text())["tuned"]["accuracy"]


def _run(cmd: list[str], cwd: Path, env: dict[str, str], log: Callable[[str], None]) -> None:
    log("$ " + " ".join(cmd))
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise TrainingError(f"reproduce: `{' '.join(cmd[:3])}` failed (exit {proc.returncode}): " + " | ".join(tail))


def reproduce(entry, *, repo: str | Path = ".", dvc: str | None = None, keep: bool = False,
              from_remote: bool = False,
              log: Callable[[str], None] = lambda m: print(m, file=sys.stderr),
              artifact_store: Any = None) -> ReproduceReport:
    """Rebuild (or restore) and compare; with `artifact_store` (the registry's), also re-hash its stored copies."""
    import time

    started = time.perf_counter()
    lineage = dict(entry.spec.lineage)
    commit = lineage.get("git_commit")
    outputs = lineage.get("outputs") or {}
    if not commit or commit == "unknown":
        raise TrainingError(f"reproduce: {entry.ref} records no git commit in its lineage; it was not registered from a git checkout")
    if not outputs:
        raise TrainingError(f"reproduce: {entry.ref} lineage names no outputs to compare; it was not registered by the pipeline")
    repo = Path(repo).resolve()
    dvc = dvc or os.environ.get("LLMREG_DVC") or str(repo / ".tools/dvc/bin/dvc")
    if not Path(dvc).is_file():
        raise TrainingError(f"reproduce: DVC not found at {dvc}; run `make install` or set LLMREG_DVC")
    report = ReproduceReport(ref=entry.ref, commit=commit, mode="remote" if from_remote else "rebuild")
    if lineage.get("git_dirty"):
        report.warnings.append("the working tree had uncommitted changes when this version was registered; "
                               "the commit alone may not reproduce it")
    if lineage.get("reproducible_from_dvc") is False:
        report.warnings.append("registered as NOT reproducible from DVC: the commit's dvc.lock did not describe "
                               + ", ".join((lineage.get("dvc_lock_mismatches") or {}).get("commit") or ["its outputs"]))
    if artifact_store is not None:
        report.stored, notes = check_stored_copies(entry, artifact_store)
        report.warnings.extend(notes)
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    # Stages run `python -m ...`: this interpreter's environment must come first.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    work = Path(tempfile.mkdtemp(prefix="llmreg-reproduce-"))
    tree = work / "tree"
    try:
        _run(["git", "worktree", "add", "--detach", str(tree), commit], repo, env, log)
        cache = repo / ".dvc" / "cache"
        if from_remote:
            # A fresh cache, so every byte comes from the remote (resolved against this checkout).
            remote = subprocess.run([dvc, "remote", "list"], cwd=repo, env=env, capture_output=True, text=True,
                                    check=False).stdout.split()
            if len(remote) < 2:
                raise TrainingError("reproduce: no DVC remote configured; add one (`dvc remote add -d ...`)")
            url = remote[1] if "://" in remote[1] else str((repo / ".dvc" / remote[1]).resolve())
            _run([dvc, "cache", "dir", "--local", str(work / "cache")], tree, env, log)
            _run([dvc, "remote", "modify", "--local", remote[0], "url", url], tree, env, log)
            # Only the registered outputs: run records (metrics, the release file) are per run.
            _run([dvc, "pull", "--quiet", *sorted(set(outputs.values()))], tree, env, log)
        else:
            if cache.is_dir():
                _run([dvc, "cache", "dir", "--local", str(cache)], tree, env, log)
                subprocess.run([dvc, "checkout", "--quiet"], cwd=tree, env=env, capture_output=True, check=False)
            _run([dvc, "repro", "--force", "--quiet"], tree, env, log)
        report.comparisons, notes = compare_outputs(entry, tree)
        report.warnings.extend(notes)
        if not from_remote:
            from training.params import load_params

            report.eval, notes = compare_eval_score(entry, tree, load_params(tree / "params.yaml").eval.out)
            report.warnings.extend(notes)
            if not all(c.ok for c in report.comparisons):
                explain_difference(entry, tree, report)
    finally:
        if keep:
            report.tree = str(tree)
            log(f"worktree kept at {tree}")
        else:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=repo, capture_output=True,
                           check=False)
            shutil.rmtree(work, ignore_errors=True)
    report.seconds = time.perf_counter() - started
    return report
