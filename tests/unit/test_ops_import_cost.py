"""The issue-16 policy modules are part of the embeddable core: importing them stays light."""
from __future__ import annotations

import subprocess
import sys

from tests.unit.test_import_cost import HEAVY

MODULES = ["llmreg.registry.retention", "llmreg.registry.approval_policy", "llmreg.registry.drill",
           "llmreg.registry.drift"]


def test_policy_modules_load_no_heavy_module_and_no_pydantic():
    code = f"import sys; import {', '.join(MODULES)}; print(','.join(m for m in {HEAVY + ['pydantic']!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"imported at module level: {done.stdout.strip()}"
