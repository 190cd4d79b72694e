"""dvc.lock as the record of the registered bytes.

`record_in_dvc_lock` runs `dvc commit --force` so the Dagster path leaves the dvc.lock that
`dvc repro` would (same stages, same outputs). `lock_check` compares each output's digest
with the one a dvc.lock text records, for the working tree's file and for the commit's.
"""
from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from training.dvc_versioning import dvc_version_id


def dvc_executable(root: Path) -> str | None:
    dvc = os.environ.get("LLMREG_DVC") or str(root / ".tools/dvc/bin/dvc")
    return dvc if Path(dvc).is_file() else None


def record_in_dvc_lock(root: Path) -> str | None:
    """`dvc commit --force` in `root`; returns why not when it cannot run (no DVC, no repo)."""
    dvc = dvc_executable(root)
    if dvc is None:
        return "DVC tool not found (.tools/dvc or LLMREG_DVC)"
    if not (root / "dvc.yaml").is_file() or not (root / ".dvc").is_dir():
        return "not a DVC project (no dvc.yaml or .dvc/)"
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    proc = subprocess.run([dvc, "commit", "--force", "--quiet"], cwd=root, env=env, capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        return "dvc commit failed: " + " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
    return None


def lock_outputs(text: str | None) -> dict[str, str]:
    """`{out path: md5:<hash>}` from dvc.lock text."""
    if not text:
        return {}
    data = yaml.safe_load(text) or {}
    outs = {}
    for stage in (data.get("stages") or {}).values():
        for out in stage.get("outs") or []:
            if out.get("md5"):
                outs[str(out["path"]).rstrip("/")] = "md5:" + out["md5"]
    return outs


def committed_lock(root: Path) -> str | None:
    proc = subprocess.run(["git", "show", "HEAD:dvc.lock"], cwd=root, capture_output=True, text=True, check=False)
    return proc.stdout if proc.returncode == 0 else None


@dataclass
class LockCheck:
    digests: dict[str, str]  # output path -> md5 of the bytes registered
    working: list[str] = field(default_factory=list)  # outputs the working dvc.lock does not describe
    committed: list[str] = field(default_factory=list)  # ... that the commit's dvc.lock does not describe
    note: str | None = None

    @property
    def reproducible_from_dvc(self) -> bool:
        return self.note is None and not self.committed and not self.working

    def to_lineage(self) -> dict[str, Any]:
        return {"output_digests": dict(sorted(self.digests.items())),
                "reproducible_from_dvc": self.reproducible_from_dvc,
                "dvc_lock_mismatches": {"working_tree": self.working, "commit": self.committed},
                **({"dvc_lock_note": self.note} if self.note else {})}


def lock_check(root: Path, outputs: list[str], note: str | None = None) -> LockCheck:
    digests = {rel: dvc_version_id(root / rel) for rel in outputs if (root / rel).exists()}
    lock = root / "dvc.lock"
    working = lock_outputs(lock.read_text(encoding="utf-8") if lock.is_file() else None)
    committed = lock_outputs(committed_lock(root))
    return LockCheck(digests,
                     [rel for rel, d in digests.items() if working.get(rel) != d],
                     [rel for rel, d in digests.items() if committed.get(rel) != d],
                     note)
