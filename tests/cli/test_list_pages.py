"""`llmreg list` pages its output: --limit rows per page (0: all), --page N; the footer says
what is next. Rows are read as stored (version, author, bump) and match what was written."""
from __future__ import annotations

from cli.test_cli import ENTRY, Cli  # noqa: F401 - the same harness as the walkthrough

import pytest


@pytest.fixture
def cli(tmp_path):
    return Cli(tmp_path)


def test_list_pages_versions_and_names(cli):
    for n in range(5):
        cli.write(f"e{n}.yaml", ENTRY.replace("max_tokens: 300", f"max_tokens: {300 + n}"))
        cli("register", f"e{n}.yaml", actor="alice")
    cli.write("other.yaml", ENTRY.replace("name: support-triage", "name: other-app"))
    cli("register", "other.yaml", actor="bob")

    page = cli("list", "support-triage", "--limit", "2", "--page", "2", as_json=True).data
    assert [v["version"] for v in page["versions"]] == ["1.0.2", "1.0.3"]
    assert (page["total"], page["versions"][0]["author"], page["versions"][0]["bump"]) == (5, "alice", "patch")
    assert "versions 3-4 of 5; next: --page 3" in cli("list", "support-triage", "--limit", "2", "--page", "2").stdout
    last = cli("list", "support-triage", "--limit", "2", "--page", "3").stdout
    assert "1.0.4" in last and "next:" not in last
    everything = cli("list", "support-triage", "--limit", "0", as_json=True).data["versions"]
    assert [v["version"] for v in everything] == ["1.0.0", "1.0.1", "1.0.2", "1.0.3", "1.0.4"]

    names = cli("list", "--limit", "1", as_json=True).data
    assert names["total"] == 2
    assert [(r["name"], r["latest"], r["versions"]) for r in names["entries"]] == [("other-app", "1.0.0", 1)]
    second = cli("list", "--limit", "1", "--page", "2", as_json=True).data["entries"]
    assert [(r["name"], r["latest"], r["versions"]) for r in second] == [("support-triage", "1.0.4", 5)]
    assert second[0]["model"]
    assert "--limit" in cli("list", "--limit", "-1", code=2).stderr
