"""Worked examples driven as users drive them: the `llmreg` command line on a throwaway store.

`llmreg` is called in-process through `llmreg.cli.main` (the console script's entry point:
same argv, exit codes, stdout and stderr), which keeps the seven scenarios to seconds;
`test_run_scripts.py` runs each scenario's run.sh through the installed binary as well.
Each test works on a copy of its example folder, so tampering never touches the repo.
"""
from __future__ import annotations

import contextlib
import io
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str
    data: Any = None


class Llmreg:
    """`llmreg(*argv, actor=..., code=...)` runs one command against this test's store."""

    def __init__(self, workdir: Path, store_dir: Path):
        self.dir = workdir
        self.store = f"sqlite:///{store_dir / 'registry.db'}"
        self.artifacts = str(store_dir / "artifacts")
        self._opened: list = []

    def __call__(self, *argv: str, actor: str | None = None, code: int = 0, as_json: bool = False) -> Result:
        from llmreg.cli import main

        args = [str(a) for a in argv] + ["--store", self.store, "--artifacts", self.artifacts]
        if actor:
            args += ["--actor", actor]
        if as_json:
            args.append("--json")
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), contextlib.chdir(self.dir):
            got = main(args)
        result = Result(got, out.getvalue(), err.getvalue())
        assert got == code, f"llmreg {' '.join(args)}: exit {got}, expected {code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
        assert "Traceback" not in result.stderr
        if code:
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1, f"expected one error line, got {result.stderr!r}"
        if as_json:
            result.data = json.loads(result.stdout)
        return result

    def refused(self, *argv: str, actor: str | None = None) -> str:
        """Run a command the registry must refuse (exit 1); return its one-line reason."""
        return self(*argv, actor=actor, code=1).stderr.strip()

    def version_at(self, name: str, *, env: str = "default", stage: str = "production", at: str | None = None) -> str:
        argv = ["resolve", name, "--env", env, "--stage", stage]
        if at:
            argv += ["--at", at]
        return self(*argv, as_json=True).data["version"]

    def registry(self):
        """The same store through the public Python API (for reading the log)."""
        from llmreg.registry.api import Registry

        reg = Registry.open(self.store, artifacts=self.artifacts, cache=False)
        self._opened.append(reg)
        return reg

    def close(self) -> None:
        for reg in self._opened:
            reg.close()


@pytest.fixture
def example(tmp_path, monkeypatch):
    """example(name) -> Llmreg working in a copy of examples/<name> with its own empty store."""
    for key in ("LLMREG_STORE", "LLMREG_ARTIFACTS", "LLMREG_ACTOR"):
        monkeypatch.delenv(key, raising=False)
    made: list[Llmreg] = []

    def factory(name: str) -> Llmreg:
        workdir = tmp_path / name
        shutil.copytree(EXAMPLES / name, workdir)
        store_dir = tmp_path / f"{name}-store"
        store_dir.mkdir()
        cli = Llmreg(workdir, store_dir)
        made.append(cli)
        return cli

    yield factory
    for cli in made:
        cli.close()
