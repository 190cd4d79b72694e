"""`llmreg` driven as users drive it: a subprocess per command, exit codes, stderr, --json."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from llmreg.cli import VERBS as TABLE

ENTRY = """\
name: support-triage
model: gpt-5-mini-2026-06-01        # pinned snapshot, never a floating alias
prompt_ref: triage-prompt@v9         # prompt store reference
params: { max_tokens: 300 }
tools_ref: triage-tools@v3
eval: { suite: triage-eval-v4, score: 0.94, run: 2026-06-10, segments: {eu: 0.93, us: 0.95} }
card: { intended_use: ticket triage, limitations: English only, contact: support-ml@example.com }
"""


class Cli:
    def __init__(self, root: Path):
        self.root = root
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("LLMREG_") or k == "LLMREG_KEYRING"}
        self.env["LLMREG_STORE"] = f"sqlite:///{root / '.llmreg' / 'registry.db'}"

    def __call__(self, *args: str, actor: str | None = None, code: int = 0, as_json: bool = False):
        argv = [sys.executable, "-m", "llmreg", *args]
        if as_json:
            argv.append("--json")
        env = dict(self.env)
        if actor:
            env["LLMREG_ACTOR"] = actor
        done = subprocess.run(argv, cwd=self.root, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == code, f"{args}: exit {done.returncode}\nstdout: {done.stdout}\nstderr: {done.stderr}"
        assert "Traceback" not in done.stderr
        if code:
            lines = done.stderr.strip().splitlines()
            assert len(lines) == 1, f"expected one error line, got: {done.stderr!r}"
        if as_json:
            done.data = json.loads(done.stdout)
        return done

    def write(self, name: str, text: str) -> str:
        (self.root / name).write_text(text)
        return name

    def event_count(self) -> int:
        path = self.root / ".llmreg" / "registry.db"
        if not path.exists():
            return 0
        conn = sqlite3.connect(path)
        try:
            return conn.execute("SELECT count(*) FROM events").fetchone()[0]
        finally:
            conn.close()


@pytest.fixture
def cli(tmp_path):
    return Cli(tmp_path)


@pytest.mark.slow  # ~40 llmreg processes, 15 s: `make test` runs it, `make test-fast` does not
def test_walkthrough_uses_every_verb(cli):
    cli.write("entry.yaml", ENTRY)
    cli.write("entry2.yaml", ENTRY.replace("max_tokens: 300", "max_tokens: 400"))
    cli.write("gates.yaml", "eval_threshold: 0.5\nfairness_max_gap: 0.05\n")
    cli.write("suite.yaml", "name: triage-eval-v4\nversion: '4'\nthreshold: 0.9\nrows: 400\n")
    cli.write("slo.yaml", "error_rate: 0.004\np99_ms: 640\ncalls: 1200\ninstance: gw-test\n"
              "window: {start: '2026-06-10T09:00:00Z', end: '2026-06-10T10:00:00Z'}\n")
    cli.write("report.json", json.dumps({"suite": "triage-eval-v4", "score": 0.95, "run": "run-7",
                                         "segments": {"eu": 0.94, "us": 0.96}}))
    cli.write("roles.yaml", "roles: {admin: ['*'], viewer: [read]}\nmembers: {admin: [admin], eve: [viewer]}\n")

    out = cli("register", "entry.yaml", actor="alice", as_json=True)
    assert out.data["ref"] == "support-triage@1.0.0" and out.data["bump"] == "initial"
    assert "registered support-triage@1.0.1" in cli("register", "entry2.yaml", actor="alice").stdout
    listing = cli("list").stdout
    assert "embedded mode" in listing and "support-triage" in listing
    assert [v["version"] for v in cli("list", "support-triage", as_json=True).data["versions"]] == ["1.0.0", "1.0.1"]
    assert "max_tokens: 400" in cli("show", "support-triage").stdout
    assert cli("show", "support-triage@1.0.0", as_json=True).data["spec"]["params"] == {"max_tokens": 300}
    diff = cli("diff", "support-triage@1.0.0", "support-triage@1.0.1", as_json=True).data
    assert diff == {"bump": "patch", "changes": [{"path": "params.max_tokens", "old": 300, "new": 400,
                                                   "level": "patch"}]}
    assert "implies a patch bump" in cli("diff", "support-triage@1.0.0", "entry2.yaml").stdout

    cli("gates", "set", "gates.yaml", actor="admin")
    assert cli("gates", "show", as_json=True).data["eval_threshold"] == 0.5
    cli("suite", "register", "suite.yaml", actor="admin")
    assert "unchanged" in cli("suite", "register", "suite.yaml", actor="admin").stdout
    cli("eval", "record", "support-triage@1.0.0", "report.json", actor="ci")

    for version in ("1.0.0", "1.0.1"):
        ref = f"support-triage@{version}"
        promoted = cli("promote", ref, "--to", "staging", "--env", "eu", actor="ci", as_json=True).data
        assert promoted["type"] == "stage.promoted" and promoted["payload"]["stage"] == "staging"
        cli("review", ref, "--env", "eu", "--notes", "segments fine", actor="bob")
        cli("promote", ref, "--to", "canary", "--env", "eu", "--weight", "0.05", actor="release-bot")
        cli("evidence", ref, "--env", "eu", "--kind", "canary_slo", "slo.yaml", actor="system:slo-guard")
        cli("approve", ref, "--to", "production", "--env", "eu", actor="bob")
        cli("approve", ref, "--to", "production", "--env", "eu", actor="carol")
        cli("promote", ref, "--to", "production", "--env", "eu", actor="release-bot")
        if version == "1.0.0":
            moment = cli("audit", "log", "--limit", "1", as_json=True).data[0]["time"]

    resolved = cli("resolve", "support-triage", "--env", "eu", as_json=True).data
    assert (resolved["version"], resolved["stage"], resolved["model"]) == ("1.0.1", "production", "gpt-5-mini-2026-06-01")
    assert "support-triage@1.0.1" in cli("resolve", "support-triage", "--env", "eu", "--verify").stdout
    rolled = cli("rollback", "support-triage", "--env", "eu", "--reason", "error spike", actor="oncall", as_json=True)
    assert rolled.data["version"] == "1.0.0" and rolled.data["payload"]["from"] == "1.0.1"
    assert cli("resolve", "support-triage", "--env", "eu", as_json=True).data["version"] == "1.0.0"
    at = cli("resolve", "support-triage", "--env", "eu", "--at", moment, as_json=True).data
    assert (at["version"], at["at"]) == ("1.0.0", moment)
    cli("rollback", "support-triage", "--env", "eu", "--to", "1.0.1", actor="oncall")
    cli("archive", "support-triage@1.0.0", "--env", "eu", actor="release-bot")
    assert cli("show", "support-triage@1.0.0", as_json=True).data["status"] == {"eu": "archived"}

    cli("promote", "support-triage@1.0.0", "--to", "staging", "--env", "us", actor="ci")
    cli("review", "support-triage@1.0.0", "--env", "us", actor="bob")
    cli("promote", "support-triage@1.0.0", "--to", "canary", "--env", "us", actor="release-bot")
    pulled = cli("rollback", "support-triage", "--env", "us", "--stage", "canary", "--evidence", "slo.yaml",
                 actor="system:slo-guard").stdout
    assert "pulled support-triage@1.0.0 from canary in us" in pulled
    assert cli("show", "support-triage@1.0.0", as_json=True).data["status"]["us"] == "development"

    assert cli("verify", as_json=True).data["ok"] is True
    log = cli("audit", "log", "--name", "support-triage", "--env", "eu", "--type", "stage.rolled_back").stdout.splitlines()
    assert len(log) == 2 and "rolled back production from 1.0.1 to 1.0.0 (error spike)" in log[0]
    audit = cli("audit", "verify", as_json=True).data
    assert audit["ok"] and audit["events"] == cli.event_count()

    assert json.loads(cli("lineage", "support-triage@1.0.1", "--format", "json").stdout)["nodes"]
    assert cli("lineage", "support-triage@1.0.1", "--format", "mermaid").stdout.startswith("flowchart LR")
    assert "digraph" in cli("lineage", "support-triage@1.0.1", "--format", "dot").stdout
    card = cli("card", "support-triage@1.0.1").stdout
    assert card.startswith("---\n") and "Intended use" in card

    assert "no roles configured" in cli("roles", "show").stdout
    cli("roles", "set", "roles.yaml", actor="admin")
    assert "embedded mode" not in cli("list").stdout
    assert cli("roles", "show", as_json=True).data["members"]["eve"] == ["viewer"]
    refused = cli("promote", "support-triage@1.0.1", "--to", "canary", "--env", "us", actor="eve", code=1)
    assert "forbidden: actor 'eve' (roles: viewer) may not promote:canary" in refused.stderr


def test_exit_codes_and_one_line_errors(cli):
    cli.write("entry.yaml", ENTRY)
    cli("register", "entry.yaml", actor="alice")
    # 1: refused by a gate, a rule, a conflict, a missing thing
    gate = cli("promote", "support-triage@1.0.0", "--to", "staging", actor="ci", code=1)
    assert gate.stderr.startswith("llmreg promote: gate failed:") and "no eval threshold known" in gate.stderr
    conflict = cli("register", "entry.yaml", actor="alice", code=1)
    assert "conflict: support-triage: identical to 1.0.0" in conflict.stderr
    assert "not found" in cli("resolve", "support-triage", code=1).stderr
    assert "not found" in cli("show", "nope@1.0.0", code=1).stderr
    assert "authors cannot review" in cli("review", "support-triage@1.0.0", actor="alice", code=1).stderr
    # 2: bad input
    assert "--actor NAME or set LLMREG_ACTOR" in cli("register", "entry.yaml", code=2).stderr
    assert "not NAME@VERSION" in cli("promote", "support-triage", "--to", "staging", actor="ci", code=2).stderr
    assert "invalid choice" in cli("promote", "support-triage@1.0.0", "--to", "prod", actor="ci", code=2).stderr
    assert "is a stage, not an environment" in cli("promote", "support-triage@1.0.0", "--to", "staging",
                                                   "--env", "production", actor="ci", code=2).stderr
    assert "not a time" in cli("resolve", "support-triage", "--at", "last tuesday", code=2).stderr
    assert "invalid choice" in cli("frobnicate", code=2).stderr
    assert "store" in cli("list", "--store", "mysql://x/y", code=2).stderr


def test_json_errors_carry_the_gate_results(cli):
    cli.write("entry.yaml", ENTRY)
    cli("register", "entry.yaml", actor="alice")
    out = cli("promote", "support-triage@1.0.0", "--to", "staging", actor="ci", code=1, as_json=True)
    assert out.data["kind"] == "GateFailed" and out.data["exit"] == 1
    assert {g["gate"]: g["passed"] for g in out.data["gates"]} == {"transition": True, "eval_threshold": False}


BAD_ENTRIES = {
    "malformed.yaml": ("name: x\nmodel: [unclosed\n", "malformed.yaml: line 3, column 1: malformed YAML"),
    "unknown.yaml": (ENTRY + "promt_ref: x@v1\n", "did you mean 'prompt_ref'"),
    "wrong-type.yaml": (ENTRY.replace("{ max_tokens: 300 }", "[300]"), "params"),
    "floating.yaml": (ENTRY.replace("gpt-5-mini-2026-06-01", "gpt-5-mini-latest"), "floating alias"),
    "assigned.yaml": (ENTRY + "version: 14\n", "assigned by the registry"),
    "traversal.yaml": (ENTRY + "artifacts:\n  - {name: ../../etc/passwd, uri: adapter.bin, sha256: "
                       + "a" * 64 + ", size: 1, kind: adapter}\n", "path traversal"),
    "not-a-mapping.yaml": ("- just\n- a list\n", "expected a mapping"),
}


@pytest.mark.parametrize("filename", sorted(BAD_ENTRIES))
def test_bad_entry_files_exit_2_and_write_nothing(cli, filename):
    text, message = BAD_ENTRIES[filename]
    cli.write(filename, text)
    before = cli.event_count()
    out = cli("register", filename, actor="alice", code=2)
    assert out.stderr.startswith("llmreg register: bad input:") and message in out.stderr
    assert cli.event_count() == before


def test_bad_config_and_evidence_files_exit_2(cli):
    cli.write("entry.yaml", ENTRY)
    cli("register", "entry.yaml", actor="alice")
    before = cli.event_count()
    cli.write("gates.yaml", "eval_threshold: high\n")
    assert "eval_threshold" in cli("gates", "set", "gates.yaml", actor="admin", code=2).stderr
    cli.write("roles.yaml", "roles: {admin: ['*']}\nmembers: {bob: [admni]}\n")
    cli("roles", "set", "roles.yaml", actor="admin", code=2)
    cli.write("slo.yaml", "error_rate: 0.1\np99_ms: fast\ncalls: 10\n")
    assert "p99_ms" in cli("evidence", "support-triage@1.0.0", "--kind", "canary_slo", "slo.yaml",
                           actor="slo", code=2).stderr
    assert "cannot read" in cli("gates", "set", "missing.yaml", actor="admin", code=2).stderr
    assert cli.event_count() == before


def test_verify_and_audit_verify_refuse_tampering(cli):
    cli.write("adapter.bin", "adapter weights")
    import hashlib

    digest = hashlib.sha256(b"adapter weights").hexdigest()
    cli.write("entry.yaml", ENTRY + f"artifacts:\n  - {{name: adapter, uri: adapter.bin, sha256: {digest}, "
                                    f"size: 15, kind: adapter}}\n")
    cli("register", "entry.yaml", actor="alice")
    assert cli("verify", "support-triage@1.0.0").returncode == 0
    stored = cli.root / ".llmreg" / "artifacts" / "sha256" / digest[:2] / digest
    stored.chmod(0o644)
    stored.write_text("adapter weightZ")
    out = cli("verify", "support-triage", code=1)
    assert f"expected sha256 {digest}" in out.stderr and "artifact 'adapter'" in out.stderr
    conn = sqlite3.connect(cli.root / ".llmreg" / "registry.db", isolation_level=None)
    conn.execute("DROP TRIGGER events_append_only_update")
    conn.execute("UPDATE events SET actor = 'mallory' WHERE seq = 1")
    conn.close()
    audit = cli("audit", "verify", code=1, as_json=True)
    assert audit.data["first_bad_seq"] == 1 and "event 1" in audit.stderr


@pytest.mark.parametrize("verb", sorted(TABLE))
def test_help_on_every_verb_has_an_example(capsys, verb):
    from llmreg.cli import main

    assert main([*verb.split(), "--help"]) == 0
    out = capsys.readouterr().out
    assert "example:" in out and "llmreg " + verb.split()[0] in out
    assert "--json" in out


def test_register_several_files_is_one_transaction(cli):
    files = [cli.write(f"e{i}.yaml", ENTRY.replace("max_tokens: 300", f"max_tokens: {300 + i}")) for i in range(3)]
    cli.write("other.yaml", ENTRY.replace("name: support-triage", "name: support-triage-eu"))
    done = cli("register", *files, "other.yaml", actor="alice")
    assert done.stdout.splitlines() == [
        "registered support-triage@1.0.0 (first version)",
        "registered support-triage@1.0.1 (patch: params.max_tokens changed)",
        "registered support-triage@1.0.2 (patch: params.max_tokens changed)",
        "registered support-triage-eu@1.0.0 (first version)",
        "4 versions in one transaction"]
    assert cli.event_count() == 4
    # The second batch repeats its first file: refused whole, naming the file; nothing written.
    cli.write("e3.yaml", ENTRY.replace("max_tokens: 300", "max_tokens: 303"))
    err = cli("register", "e3.yaml", "e3.yaml", actor="alice", code=1).stderr
    assert "e3.yaml: support-triage: identical to 1.0.3" in err and "nothing of the batch was written" in err
    err = cli("register", "e3.yaml", "missing.yaml", actor="alice", code=2).stderr
    assert "missing.yaml" in err
    err = cli("register", "e3.yaml", "e0.yaml", "--bump", "minor", actor="alice", code=2).stderr
    assert "--bump applies to one file" in err
    assert cli.event_count() == 4
    data = cli("register", "e3.yaml", "other.yaml", actor="alice", code=1).stderr  # other.yaml unchanged
    assert "other.yaml: support-triage-eu: identical to 1.0.0" in data
    listed = cli("register", "e3.yaml", actor="alice", as_json=True).data
    assert listed["ref"] == "support-triage@1.0.3"  # one file: the single-entry output, as before


def test_register_without_an_actor_creates_no_store(cli):
    cli.write("entry.yaml", ENTRY)
    err = cli("register", "entry.yaml", code=2).stderr
    assert "actor: who is acting?" in err
    assert not (cli.root / ".llmreg").exists()
