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
    from training.release import register_release
    from training.reproduce import compare_outputs

    env = _env(clone)
    subprocess.run([DVC, "repro", "--quiet"], cwd=clone, env=env, check=True)
    reg = Registry.open(env["LLMREG_STORE"], artifacts=str(clone / ".llmreg/artifacts"))
    cwd = os.getcwd()
    os.chdir(clone)
    try:
        entry, created = register_release(reg, actor="ci", run_id="dvc-test", pipeline="dvc", root=clone)
    finally:
        os.chdir(cwd)
    assert created and entry.spec.lineage["git_commit"] == _git(clone, "rev-parse", "HEAD")

    # The CLI verb, keeping the worktree so the tamper check below can reuse the rebuild.
    proc = subprocess.run([sys.executable, "-m", "llmreg.cli", "reproduce", entry.ref, "--json", "--keep"],
                          cwd=clone, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["ok"] is True
    assert {c["component"] for c in report["comparisons"]} == {"model", "artifacts.adapter", "datasets.train", "datasets.eval"}
    assert all(c["expected"] == c["actual"] for c in report["comparisons"])

    # An entry whose adapter checksum differs from what the commit rebuilds: named, with both digests.
    art = entry.spec.artifacts[0]
    forged = dataclasses.replace(art, sha256="0" * 64)
    tampered = dataclasses.replace(entry, spec=dataclasses.replace(entry.spec, artifacts=(forged,)))
    comparisons, _ = compare_outputs(tampered, report["tree"])
    [bad] = [c for c in comparisons if not c.ok]
    assert (bad.component, bad.expected, bad.actual) == ("artifacts.adapter", "sha256:" + "0" * 64, "sha256:" + art.sha256)
    subprocess.run(["git", "worktree", "remove", "--force", report["tree"]], cwd=clone, check=True)
