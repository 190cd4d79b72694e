"""Keys, signer bindings, checkpoints and exports as a team drives them from the shell."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from cli.test_cli import ENTRY

REPO = Path(__file__).resolve().parents[2]


def test_a_team_binds_keys_checkpoints_and_exports(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMREG_")}
    env.update(LLMREG_STORE=f"sqlite:///{tmp_path / 'registry.db'}", LLMREG_KEYRING=str(tmp_path / "keys"),
               XDG_CONFIG_HOME=str(tmp_path / "config"))

    def llmreg(*args: str, code: int = 0) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-m", "llmreg", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == code, f"{args}: {done.returncode}\n{done.stdout}\n{done.stderr}"
        return done

    lines = []
    for who in ("admin", "alice", "bob"):
        created = json.loads(llmreg("keys", "new", "--out", str(tmp_path / "keys" / f"{who}.key"), "--json").stdout)
        lines.append(f"{who} {created['public_key']}\n")
    (tmp_path / "allowed_signers").write_text("".join(lines))
    (tmp_path / "roles.yaml").write_text("roles: {admin: ['*'], dev: [register, read]}\n"
                                         "members: {admin: [admin], alice: [dev], bob: [dev]}\n")
    (tmp_path / "entry.yaml").write_text(ENTRY)
    llmreg("roles", "set", "roles.yaml", "--signers", "allowed_signers", "--actor", "admin")
    llmreg("register", "entry.yaml", "--actor", "alice")
    # bob's key asserting alice: refused on one line, nothing written
    bad = llmreg("register", "entry.yaml", "--actor", "alice", "--key", str(tmp_path / "keys" / "bob.key"), code=1)
    assert "is 'bob''s" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    llmreg("audit", "checkpoint", "--out", "cp.json", "--actor", "admin")
    verified = llmreg("audit", "verify", "--checkpoint", "cp.json", "--json")
    assert json.loads(verified.stdout)["ok"] is True
    llmreg("audit", "verify", "--since", "cp.json")
    llmreg("audit", "export", "audit.jsonl")
    tool = subprocess.run([sys.executable, str(REPO / "tools" / "verify_audit_export.py"), "audit.jsonl"],
                          cwd=tmp_path, capture_output=True, text=True)
    assert tool.returncode == 0, tool.stdout + tool.stderr
    assert "ssh-ed25519 " in llmreg("keys", "show", "--key", str(tmp_path / "keys" / "alice.key")).stdout
