"""The pure core is embedded in services: importing it must not drag in heavy modules."""
from __future__ import annotations

import subprocess
import sys

MODULES = ["llmreg.registry.canonical", "llmreg.registry.entry", "llmreg.registry.semver", "llmreg.registry.lifecycle", "llmreg.registry.gates_config", "llmreg.registry.roles", "llmreg.registry.card", "llmreg.registry.lineage"]
HEAVY = ["yaml", "difflib", "sqlalchemy", "alembic", "fsspec", "dagster", "torch", "transformers", "dvc", "lakefs", "numpy", "pandas"]


def test_importing_the_core_loads_no_heavy_module():
    code = f"import sys; import {', '.join(MODULES)}; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"imported at module level: {done.stdout.strip()}"


def test_parsing_loads_yaml_only_when_needed():
    code = (
        "import sys; from llmreg.registry.entry import EntrySpec, parse_entry\n"
        "EntrySpec.from_dict({'name': 'x', 'model': 'gpt-4-0613'}); a = 'yaml' in sys.modules\n"
        "parse_entry('name: x\\nmodel: gpt-4-0613\\n'); print(a, 'yaml' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True"]
