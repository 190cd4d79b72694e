"""The command table and the input `llmreg` must refuse: exit 2, one line naming the field, no write."""
from __future__ import annotations

import ast
import json
import sqlite3
from pathlib import Path

import pytest

from llmreg.cli import VERBS, build_parser, main

CLI_DIR = Path(__file__).resolve().parents[2] / "llmreg" / "cli"
READ_VERBS = [key for key, verb in VERBS.items() if verb.existing_store]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def store(tmp_path):
    from llmreg.registry.api import Registry

    url = f"sqlite:///{tmp_path / 'registry.db'}"
    with Registry.open(url) as reg:
        reg.register({"name": "support-triage", "model": "gpt-5-mini-2026-06-01"}, actor="alice")
    return url


def events(url: str) -> int:
    conn = sqlite3.connect(url.removeprefix("sqlite:///"))
    try:
        return conn.execute("SELECT count(*) FROM events").fetchone()[0]
    finally:
        conn.close()


@pytest.mark.parametrize("limit", ["-5", "0", "ten", "9" * 5000])
def test_audit_log_limit_must_be_a_positive_integer(capsys, store, limit):
    code, out, err = run(capsys, "audit", "log", "--limit", limit, "--store", store)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "--limit" in err and "positive integer" in err


def test_history_shows_one_entrys_events_with_a_rejected_candidate(capsys, store):
    from llmreg.registry.api import Registry

    with Registry.open(store) as reg:
        reg.register({"name": "other", "model": "gpt-5-mini-2026-06-01"}, actor="alice")
        reg.reject_candidate({"name": "support-triage", "model": "gpt-5-mini-2026-06-01", "prompt_ref": "p@v2"},
                             check="no_regression_vs_incumbent", detail="0.61 < 0.94 minus tolerance 0.01",
                             report={"suite": "triage-eval", "score": 0.61, "run": "eval-7"}, incumbent="1.0.0",
                             actor="ci")
    code, out, err = run(capsys, "history", "support-triage", "--store", store)
    lines = out.strip().splitlines()
    assert code == 0 and err == "" and len(lines) == 2 and "other" not in out
    assert "registered" in lines[0]
    assert "REJECTED by no_regression_vs_incumbent: score 0.61 vs incumbent 1.0.0 (None)" in lines[1]
    code, out, _ = run(capsys, "history", "support-triage", "--type", "candidate.rejected", "--store", store, "--json")
    assert code == 0 and [e["type"] for e in json.loads(out)] == ["candidate.rejected"]


def test_audit_log_limit_keeps_the_newest(capsys, store):
    code, out, _ = run(capsys, "audit", "log", "--limit", "1", "--store", store, "--json")
    assert code == 0 and len(json.loads(out)) == 1


# Each read verb with the arguments it needs; the store is missing, so none gets that far.
READ_ARGS = {"show": ["x"], "history": ["x"], "resolve": ["x"], "lineage": ["x@1.0.0"], "card": ["x@1.0.0"], "vllm-command": ["x"],
             "audit export": ["out.jsonl"]}


@pytest.mark.parametrize("key", READ_VERBS)
def test_read_verbs_on_a_missing_store_say_so_and_create_nothing(capsys, tmp_path, key):
    where = tmp_path / "nowhere" / "registry.db"
    code, out, err = run(capsys, *key.split(), *READ_ARGS.get(key, []), "--store", f"sqlite:///{where}")
    assert code == 2 and out == ""
    assert err.strip() == err.strip().splitlines()[0] and f"no store at sqlite:///{where}" in err
    assert list(tmp_path.iterdir()) == []  # no folder, no database, no artifacts directory


def test_the_default_store_is_not_created_by_a_read(capsys, tmp_path, monkeypatch):
    monkeypatch.delenv("LLMREG_STORE", raising=False)
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "list")
    assert code == 2 and "no store at sqlite:///.llmreg/registry.db" in err
    assert not (tmp_path / ".llmreg").exists()


def test_a_write_verb_still_creates_the_store(capsys, tmp_path):
    (tmp_path / "e.yaml").write_text("name: x\nmodel: gpt-5-mini-2026-06-01\n")
    url = f"sqlite:///{tmp_path / 'new' / 'registry.db'}"
    code, out, _ = run(capsys, "register", str(tmp_path / "e.yaml"), "--store", url, "--actor", "alice")
    assert code == 0 and "registered x@1.0.0" in out and events(url) >= 1


def test_every_table_entry_builds_its_parser_and_the_whole_tree_parses():
    from llmreg.cli import verb_parser

    for key in VERBS:
        parser, impl = verb_parser(key)
        assert parser.prog == f"llmreg {key}" and callable(impl.run)
    tree = build_parser()
    args = tree.parse_args(["audit", "log", "--limit", "3"])
    assert args.limit == 3 and args.existing_store is True
    assert tree.parse_args(["providers", "discover", "--actor", "ci"]).existing_store is False


def test_help_lists_every_verb_with_an_example(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for key, verb in VERBS.items():
        assert f"  {key} " in out and f"$ {verb.example}" in out


def test_version(capsys):
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.startswith("llm-registry ")


@pytest.mark.parametrize(("argv", "message"), [
    ([], "llmreg: choose a verb"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    (["resolv", "x"], "did you mean 'resolve'?"),
    (["audit"], "llmreg audit: choose an action: log, verify"),
    (["audit", "tail"], "invalid choice: 'tail'"),
])
def test_no_verb_is_one_line_and_exit_2(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and message in err


def test_no_verb_module_imports_the_dispatcher():
    """Verbs share llmreg.cli.context; importing llmreg.cli from a verb would make a circle."""
    modules = {verb.module for verb in VERBS.values()}
    for path in [*CLI_DIR.glob("*.py"), *(CLI_DIR.parent / f"{m.rsplit('.', 1)[1]}.py" for m in modules
                                          if not m.startswith("llmreg.cli."))]:
        if path.name in ("__init__.py", "__main__.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert node.module != "llmreg.cli" and node.module != "llmreg", f"{path.name} imports the dispatcher"
            elif isinstance(node, ast.Import):
                assert all(alias.name != "llmreg.cli" for alias in node.names), path.name
