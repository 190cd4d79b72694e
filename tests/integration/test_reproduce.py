"""`llmreg reproduce`: a registered version rebuilt from its recorded commit, bit for bit.

Runs the real chain twice (small settings) in a throwaway clone: once to produce and
register, once inside the reproduce worktree. Then a tampered registration must be reported
as a difference, naming the component.
"""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.dagster.conftest import SMALL_PARAMS

ROOT = Path(__file__).resolve().parents[2]
DVC = os.environ.get("LLMREG_DVC") or str(ROOT / ".tools/dvc/bin/dvc")

pytestmark = pytest.mark.slow


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    if not Path(DVC).is_file():
        pytest.fail(f"DVC tool env missing at {DVC}: run `make install`")
    repo = tmp_path / "repo"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(repo)], check=True)
    # The working copy under test, not just its last commit: copy the tracked files over.
    for rel in _git(ROOT, "ls-files").splitlines():
        src = ROOT / rel
        if src.is_file():
            (repo / rel).parent.mkdir(parents=True, exist_ok=True)
            (repo / rel).write_bytes(src.read_bytes())
    params = yaml.safe_load((repo / "params.yaml").read_text())
    for section, values in SMALL_PARAMS.items():
        params[section].update(values)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    _git(repo, "-c", "user.email=t@example.com", "-c", "user.name=test", "commit", "-qam", "small params")
    return repo


def _env(repo: Path) -> dict[str, str]:
    return {**os.environ, "DVC_NO_ANALYTICS": "1", "LLMREG_DVC": DVC,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "LLMREG_STORE": f"sqlite:///{repo / '.llmreg/registry.db'}",
            "LLMREG_ACTOR": "ci"}


def test_registered_version_reproduces_bit_for_bit_and_tampering_is_named(clone: Path):
    from llmreg.registry.api import Registry
    from training.params import load_params
    from training.release import register_release
    from training.reproduce import compare_outputs

    env = _env(clone)
    subprocess.run([DVC, "repro", "--quiet"], cwd=clone, env=env, check=True)
    # What a team does after `dvc repro`: commit the lock that describes the outputs.
    _git(clone, "-c", "user.email=t@example.com", "-c", "user.name=test", "commit", "-qam", "dvc.lock")
    reg = Registry.open(env["LLMREG_STORE"], artifacts=str(clone / ".llmreg/artifacts"))
    os.environ["LLMREG_DVC"] = DVC
    done = register_release(reg, load_params(clone / "params.yaml"), clone, actor="ci", run_id="dvc-test",
                            pipeline="dvc")
    entry = done.entry
    assert done.created and entry.spec.lineage["git_commit"] == _git(clone, "rev-parse", "HEAD")
    lineage = entry.spec.lineage
    assert lineage["reproducible_from_dvc"] is True, lineage["dvc_lock_mismatches"]
    assert lineage["output_digests"]["data/splits/eval.parquet"] == entry.spec.datasets["eval"]
    assert lineage["environment"]["dispatch"]["aten_cpu_capability"] == "DEFAULT"

    # The CLI verb, keeping the worktree so the tamper check below can reuse the rebuild.
    proc = subprocess.run([sys.executable, "-m", "llmreg.cli", "reproduce", entry.ref, "--json", "--keep"],
                          cwd=clone, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["ok"] is True
    assert {c["component"] for c in report["comparisons"]} == {"model", "artifacts.adapter", "datasets.train", "datasets.eval"}
    assert all(c["expected"] == c["actual"] for c in report["comparisons"])
    assert report["verdict"] == "bit-for-bit"

    # An entry whose adapter checksum differs from what the commit rebuilds: named, with both digests.
    art = entry.spec.artifacts[0]
    forged = dataclasses.replace(art, sha256="0" * 64)
    tampered = dataclasses.replace(entry, spec=dataclasses.replace(entry.spec, artifacts=(forged,)))
    comparisons, _ = compare_outputs(tampered, report["tree"])
    [bad] = [c for c in comparisons if not c.ok]
    assert (bad.component, bad.expected, bad.actual) == ("artifacts.adapter", "sha256:" + "0" * 64, "sha256:" + art.sha256)
    subprocess.run(["git", "worktree", "remove", "--force", report["tree"]], cwd=clone, check=True)


def test_registration_says_loudly_when_the_commits_dvc_lock_does_not_describe_the_bytes(clone: Path):
    """The 20-step vs 400-step case: outputs rebuilt with other params, dvc.lock not committed."""
    from llmreg.registry.api import Registry
    from training.errors import TrainingError
    from training.params import load_params
    from training.release import register_release

    env = _env(clone)
    subprocess.run([DVC, "repro", "--quiet"], cwd=clone, env=env, check=True)
    _git(clone, "-c", "user.email=t@example.com", "-c", "user.name=test", "commit", "-qam", "dvc.lock")
    params = yaml.safe_load((clone / "params.yaml").read_text())
    params["lora"]["steps"] = 20
    (clone / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    subprocess.run([DVC, "repro", "--quiet"], cwd=clone, env=env, check=True)
    os.environ["LLMREG_DVC"] = DVC
    reg = Registry.open(env["LLMREG_STORE"], artifacts=str(clone / ".llmreg/artifacts"))
    p = load_params(clone / "params.yaml")
    with pytest.raises(TrainingError, match="the commit's dvc.lock does not describe models/adapter"):
        register_release(reg, p, clone, actor="ci", run_id="strict", require_dvc_lock=True)
    assert reg.versions("support-triage") == []  # refused: nothing written
    done = register_release(reg, p, clone, actor="ci", run_id="loud", pipeline="dvc")
    lineage = done.entry.spec.lineage
    assert lineage["reproducible_from_dvc"] is False
    assert list(lineage["dvc_lock_mismatches"]["commit"]) == ["models/adapter"]
    assert list(lineage["dvc_lock_mismatches"]["working_tree"]) == []  # dvc repro updated the working lock


def test_committed_dvc_lock_is_what_a_clean_build_produces(tmp_path: Path):
    """The README's claim, checked: a fresh clone of the last commit, `dvc repro` at the default
    params, gives exactly the outputs the committed dvc.lock records (pinned kernels make this
    hold on any x86-64 machine); `dvc metrics diff` and `dvc plots show` work on the result."""
    from training.dvc_lock import lock_outputs

    if not Path(DVC).is_file():
        pytest.fail(f"DVC tool env missing at {DVC}: run `make install`")
    repo = tmp_path / "fresh"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(repo)], check=True)
    committed = lock_outputs((repo / "dvc.lock").read_text())
    env = {**_env(repo), "LLMREG_STORE": f"sqlite:///{tmp_path / 'unused.db'}"}
    subprocess.run([DVC, "repro", "--quiet"], cwd=repo, env=env, check=True)
    rebuilt = lock_outputs((repo / "dvc.lock").read_text())
    # Run records name this checkout's absolute paths, timings and the eval run's id: they
    # describe a run, not bytes to reproduce. Everything else must match exactly.
    for lock in (committed, rebuilt):
        for record in ("release/entry.yaml", "metrics/base_model.json", "metrics/train.json", "metrics/eval.json"):
            lock.pop(record, None)
    assert {"models/base", "models/adapter", "data/splits/train.parquet", "reports/eval.json"} <= set(committed)
    assert rebuilt == committed, {k: (committed.get(k), v) for k, v in rebuilt.items() if committed.get(k) != v}
    diff = subprocess.run([DVC, "metrics", "diff", "--json"], cwd=repo, env=env, capture_output=True, text=True,
                          check=True)
    assert json.loads(diff.stdout or "{}") in ({}, {"reports/eval.json": {}, "reports/train.json": {}}) or \
        all(all(v.get("diff") in (0, None) for v in m.values()) for m in json.loads(diff.stdout).values())
    plots = subprocess.run([DVC, "plots", "show", "--json"], cwd=repo, env=env, capture_output=True, text=True,
                           check=True)
    assert "reports/loss.csv" in plots.stdout and "reports/segments.csv" in plots.stdout
