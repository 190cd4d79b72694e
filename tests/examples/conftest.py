"""Worked examples, tested by running them: each scenario's script (examples/*/run.sh, or
hosted-providers/run.py) runs as a user runs it, through the installed `llmreg` binary, and
the tests assert on what it printed and on the registry it leaves behind.

`LLMREG_EXAMPLE_STORE_DIR` (read by examples/script_prologue.sh; `--store` for run.py) keeps
the script's otherwise throwaway store, so a test can read it, or go on from it with steps
the script does not show (tampering, refusals) on its own copy: `scenario.fork()`.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
BIN = Path(sys.executable).parent
PROMPT = "\n$ llmreg "


@dataclass
class Step:
    """One `$ llmreg ...` line the script printed and everything printed until the next one."""

    command: str
    output: str
    refused: bool = False


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str
    data: Any = None


class Llmreg:
    """`llmreg(*argv, actor=..., code=...)` runs one command in-process against a store."""

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
        """The same store through the public Python API."""
        from llmreg.registry.api import Registry

        reg = Registry.open(self.store, artifacts=self.artifacts, cache=False)
        self._opened.append(reg)
        return reg

    def close(self) -> None:
        for reg in self._opened:
            reg.close()
        self._opened.clear()


@dataclass
class Scenario:
    """What one run of an example's script printed, and the store it left (`llmreg` reads it)."""

    name: str
    output: str
    steps: list[Step]
    llmreg: Llmreg
    _root: Path = field(repr=False)

    def step(self, command: str, *, refused: bool | None = None) -> Step:
        """The one step whose command starts with `command` (and was or was not a refusal)."""
        found = [s for s in self.steps if s.command.startswith(command) and refused in (None, s.refused)]
        assert len(found) == 1, f"{self.name}: {len(found)} steps start with {command!r}: {self.steps}"
        return found[0]

    def diff(self, command: str) -> dict[str, str]:
        """{changed field path: level} from the output of the `diff ...` step, plus "bump"."""
        output = self.step(command).output
        changes = {line.split()[1].rstrip(":"): line.split()[0] for line in output.splitlines()
                   if line.split()[0] in ("patch", "minor", "major")}
        last = output.splitlines()[-1]
        assert last.startswith("implies a ") and last.endswith(" bump"), output
        return {**changes, "bump": last.split()[2]}

    def steps_of(self, command: str) -> list[Step]:
        return [s for s in self.steps if s.command.startswith(command)]

    def fork(self) -> Llmreg:
        """A copy of the example folder and of the store the script left, to go on from there."""
        n = len(list(self._root.glob("fork-*")))
        workdir, store = self._root / f"fork-{n}" / self.name, self._root / f"fork-{n}" / "store"
        shutil.copytree(self.llmreg.dir, workdir)
        shutil.copytree(Path(self.llmreg.artifacts).parent, store)
        return Llmreg(workdir, store)


def parse_steps(output: str) -> list[Step]:
    steps = []
    for chunk in ("\n" + output).split(PROMPT)[1:]:
        command, _, body = chunk.partition("\n")
        refused = command.endswith("# expected: refused")
        steps.append(Step(command.removesuffix("# expected: refused").strip(), body.strip(), refused))
    return steps


def run_example(name: str, root: Path) -> Scenario:
    """Run examples/<name>'s script on a copy of the folder; keep its store under root/store."""
    shutil.copytree(EXAMPLES / name, root / "examples" / name)
    shutil.copy(EXAMPLES / "script_prologue.sh", root / "examples" / "script_prologue.sh")
    folder, store = root / "examples" / name, root / "store"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMREG_")}  # never a user's real store
    env.update(LLMREG=str(BIN / "llmreg"), PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
               LLMREG_EXAMPLE_STORE_DIR=str(store),
               PYTHONPATH=os.pathsep.join(filter(None, (str(REPO), env.get("PYTHONPATH")))))
    if (folder / "run.sh").is_file():
        argv = ["bash", str(folder / "run.sh")]
    else:
        store.mkdir()
        argv = [sys.executable, str(folder / "run.py"), "--store", f"sqlite:///{store / 'registry.db'}",
                "--artifacts", str(store / "artifacts")]
    done = subprocess.run(argv, check=False, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=300)
    assert done.returncode == 0 and "Traceback" not in done.stdout, (
        f"{name}: exit {done.returncode}\n{done.stdout[-4000:]}")
    return Scenario(name, done.stdout, parse_steps(done.stdout), Llmreg(folder, store), root)


@pytest.fixture(scope="session")
def example_runs(request, tmp_path_factory):
    """Every example this session's tests use, started together (one script per core) the
    first time one is needed: {name: future of its Scenario}."""
    names = sorted({item.module.EXAMPLE for item in request.session.items
                    if hasattr(item.module, "EXAMPLE") and "scenario" in item.fixturenames})
    with ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as pool:
        yield {name: pool.submit(run_example, name, tmp_path_factory.mktemp(name)) for name in names}


@pytest.fixture(scope="module")
def scenario(request, example_runs, tmp_path_factory):
    """The example folder the test module names in `EXAMPLE`, run once for all its tests."""
    name = request.module.EXAMPLE
    ran = example_runs[name].result() if name in example_runs else run_example(name, tmp_path_factory.mktemp(name))
    yield ran
    ran.llmreg.close()


@pytest.fixture
def forked(scenario):
    """A copy of the scenario's end state for a test that changes it; closed afterwards."""
    made: list[Llmreg] = []

    def fork() -> Llmreg:
        made.append(scenario.fork())
        return made[-1]

    yield fork
    for cli in made:
        cli.close()
