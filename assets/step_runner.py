"""Run a step's `main()` from an asset: the exact code path `dvc repro` runs.

Steps read params.yaml and write relative paths, as DVC stages do, so the asset runs them
from the project root. The in-process executor runs one step at a time, which is what
makes the working-directory switch safe.
"""
from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import dagster as dg


def run_step(context: dg.AssetExecutionContext, root: Path, name: str,
             main: Callable[[Sequence[str] | None], int], argv: Sequence[str] = ()) -> float:
    """Call `main(argv)` in `root`; a non-zero exit fails the asset. Returns seconds taken."""
    context.log.info(f"step {name}: started")
    started = time.perf_counter()
    with contextlib.chdir(root):
        code = main(list(argv))
    seconds = time.perf_counter() - started
    if code != 0:
        raise dg.Failure(f"step {name} exited {code}; its error line is in the log above")
    context.log.info(f"step {name}: done in {seconds:.1f} s")
    return seconds


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))
