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


# `llmreg resolve` and `llmreg list` are the hot commands: their whole process must stay small
# (bench/ times them; this pins what they load, which is what the time is made of).
SETUP = """
import sys
from llmreg.registry.api import Registry
with Registry.open(sys.argv[1]) as reg:
    reg.register({"name": "x", "model": "gpt-5-mini-2026-06-01", "params": {"max_tokens": 3},
                  "eval": {"suite": "smoke@1", "score": 0.9, "run": "r1"}}, actor="a")
    reg.configure_gates({"eval_threshold": 0.0}, actor="a")
    reg.promote("x", "1.0.0", "staging", actor="a")
"""
# A fresh process on the store SETUP wrote: what the verb loads is all it loads.
CLI_RUN = """
import contextlib, io, sys
before = set(sys.modules)
from llmreg.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    code = main({argv!r} + ["--store", sys.argv[1]])
print(code, " ".join(sorted(set(sys.modules) - before)))
"""
# Never on the read path: parsing and document libraries, migrations, the gateway, the pipeline.
NOT_ON_READ_PATH = ["yaml", "sqlalchemy", "alembic", "fsspec", "difflib", "pydantic", "psycopg", "dagster", "torch",
                    "transformers", "numpy", "pandas", "evals", "training", "pipelines", "llmreg.serving", "http",
                    "email", "logging", "subprocess", "tempfile",
                    # the write side and what only it needs (RegistryReads.open, lazy imports)
                    "llmreg.registry.api", "llmreg.registry.handlers", "llmreg.registry.artifact_ingest",
                    "llmreg.registry.artifacts", "llmreg.registry.integrity", "llmreg.registry.providers",
                    "llmreg.registry.lifecycle", "llmreg.registry.documents", "uuid", "platform", "urllib",
                    "hashlib", "pathlib", "shutil", "bz2", "lzma",
                    # the value objects and what they cost to load (~20 ms of a 60 ms process): the
                    # read verbs print the stored entry (Resolved.document) and the roles only exist
                    "dataclasses", "inspect", "typing", "llmreg.registry.spec", "llmreg.registry.entry",
                    "llmreg.registry.model_ref", "llmreg.registry.semver", "llmreg.registry.roles",
                    "llmreg.registry.gates_config", "llmreg.registry.audit", "llmreg.registry.webhooks"]


def _cli_imports(tmp_path, argv: list[str]) -> tuple[int, set[str]]:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    setup = subprocess.run([sys.executable, "-c", SETUP, url], capture_output=True, text=True, timeout=60)
    assert setup.returncode == 0, setup.stderr
    done = subprocess.run([sys.executable, "-c", CLI_RUN.format(argv=argv), url], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    exit_code, _, loaded = done.stdout.strip().partition(" ")
    return int(exit_code), set(loaded.split())


def _cli_modules(loaded: set[str]) -> set[str]:
    return {m for m in loaded if m == "llmreg.cli" or m.startswith("llmreg.cli.")}


def test_resolve_loads_its_verb_module_and_the_read_path_only(tmp_path):
    code, loaded = _cli_imports(tmp_path, ["resolve", "x", "--stage", "canary"])
    assert code == 1  # nothing holds canary: refused, after the whole read path ran
    assert _cli_modules(loaded) == {"llmreg.cli", "llmreg.cli.context", "llmreg.cli.resolve"}
    heavy = [m for m in NOT_ON_READ_PATH if m in loaded or any(x.startswith(m + ".") for x in loaded)]
    assert heavy == [], f"llmreg resolve imported {heavy}"


def test_an_answered_resolve_prints_the_stored_entry_without_loading_the_value_objects(tmp_path):
    for i, argv in enumerate((["resolve", "x", "--stage", "staging"], ["resolve", "x", "--stage", "staging", "--json"])):
        (tmp_path / str(i)).mkdir()
        code, loaded = _cli_imports(tmp_path / str(i), argv)
        assert code == 0
        heavy = [m for m in NOT_ON_READ_PATH if m in loaded or any(x.startswith(m + ".") for x in loaded)]
        assert heavy == [], f"llmreg {' '.join(argv)} imported {heavy}"


def test_list_loads_its_verb_module_and_the_read_path_only(tmp_path):
    code, loaded = _cli_imports(tmp_path, ["list"])
    assert code == 0
    assert _cli_modules(loaded) == {"llmreg.cli", "llmreg.cli.context", "llmreg.cli.entries"}
    heavy = [m for m in NOT_ON_READ_PATH if m in loaded or any(x.startswith(m + ".") for x in loaded)]
    assert heavy == [], f"llmreg list imported {heavy}"


def test_help_reads_the_command_table_without_loading_a_verb_or_the_registry():
    code = ("import contextlib, io, sys\nfrom llmreg.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()): main(['--help'])\n"
            "print(' '.join(m for m in sys.modules if m.startswith('llmreg')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert sorted(done.stdout.split()) == ["llmreg", "llmreg.cli", "llmreg.cli.context"]  # no verb, no registry
