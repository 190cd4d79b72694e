"""Regression guard: DVC must stay out of the project venv.

dvc 3.x pulls hydra-core/omegaconf, which pin antlr4-python3-runtime==4.9.*; Dagster 1.13's
asset-selection parser is generated for the 4.13 runtime and fails under 4.9. DVC therefore
lives in its own tool venv (.tools/dvc) and training/dvc_versioning.py never imports it.
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
import subprocess
import warnings

import pytest

from .conftest import TOOL_DVC


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".")[:2])


def test_project_venv_has_antlr_4_13_or_newer() -> None:
    version = importlib.metadata.version("antlr4-python3-runtime")
    assert _version_tuple(version) >= (4, 13), (
        f"antlr4-python3-runtime {version} is installed; something pulled the 4.9 pin back in "
        "(dvc/hydra/omegaconf?) - keep DVC in .tools/dvc"
    )


def test_dagster_asset_selection_strings_parse() -> None:
    dg = pytest.importorskip("dagster")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # include_sources is a beta parameter inside Dagster
        single = dg.AssetSelection.from_string("group:training")
        combined = dg.AssetSelection.from_string("group:training and kind:python")
    assert single.selected_groups == ["training"]
    assert str(combined) == 'group:"training" and kind:"python"'
    with pytest.raises(Exception, match="Invalid selection string"):
        dg.AssetSelection.from_string("group:training and and")


def test_dvc_is_not_importable_from_the_project_venv() -> None:
    assert importlib.util.find_spec("dvc") is None, "dvc is installed in the project venv; uninstall it"
    assert importlib.util.find_spec("dvc_data") is None, "dvc-data is installed in the project venv; uninstall it"


def test_dvc_tool_venv_keeps_its_own_antlr() -> None:
    if not TOOL_DVC.exists():
        pytest.skip(f"DVC tool venv absent ({TOOL_DVC}); nothing to check")
    python = TOOL_DVC.parent / "python"
    out = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('antlr4-python3-runtime'))"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout.strip()
    # The pin that forced the split; if DVC ever drops it the tool venv could merge back.
    assert _version_tuple(out) < (4, 13), f"tool venv antlr is {out}: the conflict may be gone, revisit the split"
