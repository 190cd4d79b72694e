"""Nothing a test or a fuzzer writes ends up committed: every tracked path is a plain name."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PLAIN = re.compile(r"^[A-Za-z0-9._/+@-]+$")


def test_every_tracked_path_is_a_plain_name():
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    odd = [name.decode("utf-8", "backslashreplace") for name in listed.split(b"\0") if name
           and not PLAIN.match(name.decode("utf-8", "replace"))]
    assert not odd, f"tracked paths with odd characters (a fuzzed file committed?): {odd}"
