"""Every worked example is run by a test: each tests/examples/test_<scenario>.py names the
folder it runs (`EXAMPLE = "<folder>"`), and the `scenario` fixture runs that folder's script."""
from __future__ import annotations

import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parents[1] / "examples"


def test_every_example_folder_has_a_script_and_a_test_that_runs_it():
    folders = sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir())
    named = sorted(m.group(1) for path in HERE.glob("test_*.py")
                   if (m := re.search(r'^EXAMPLE = "([^"]+)"$', path.read_text(), re.MULTILINE)))
    assert named == folders
    for folder in folders:
        assert (EXAMPLES / folder / "run.sh").is_file() or (EXAMPLES / folder / "run.py").is_file(), folder
