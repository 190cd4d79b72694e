"""`dg` (dagster-dg-cli) and this project: the [tool.dg] settings as dg reads them, and the
commands themselves with the dg the dev extra installs (pinned to the project's Dagster)."""
from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import dagster as dg
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _dg_settings() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["dg"]


def test_tool_dg_names_modules_dg_accepts_and_that_load_the_code_location():
    settings = _dg_settings()
    assert settings["directory_type"] == "project"
    project = settings["project"]
    root, defs_module = project["root_module"], project["defs_module"]
    # dagster-dg-core refuses a defs module outside the root module ("Module `assets` is not
    # part of the current project"): `dg check defs` failed on exactly this.
    assert defs_module.startswith(root)
    for module in (root, defs_module):
        assert (ROOT / Path(*module.split("."))).is_dir(), module
    target = importlib.import_module(project["code_location_target_module"])
    defs = target.defs()
    assert isinstance(defs, dg.Definitions)
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"support_tickets", "evaluation_report", "registry_entry"} <= keys  # the defs folder loaded


def _matching_dg() -> str | None:
    if importlib.util.find_spec("dagster_dg_cli") is None:
        return "dagster-dg-cli is not installed"
    have, wants = dg.__version__, importlib.metadata.version("dagster-dg-cli")
    return None if have == wants else f"dagster-dg-cli {wants} needs dagster=={wants}, this venv has {have}"


@pytest.mark.slow
def test_dg_lists_checks_and_launches_from_the_project_root(tmp_path, project_root):
    assert _matching_dg() is None, f"{_matching_dg()}: pyproject's dev extra pins both; run `make install`"
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    # dg runs from the checkout; what the launched asset writes goes to a throwaway project root.
    env = {**os.environ, "DAGSTER_HOME": str(home), "LLMREG_PROJECT_ROOT": str(project_root)}

    def dg_cli(*args: str) -> str:
        done = subprocess.run([sys.executable, "-c", "from dagster_dg_cli.cli import main; main()", *args],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"dg {' '.join(args)}: {done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        return done.stdout + done.stderr

    assert "promote_to_staging_job" in dg_cli("list", "defs")
    assert "All definitions loaded successfully" in dg_cli("check", "defs")
    assert "RUN_SUCCESS" in dg_cli("launch", "--assets", "support_tickets")
    assert any((project_root / "data").rglob("*.parquet"))
