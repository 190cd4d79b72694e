"""`llmreg keys new` / `keys show` (llmreg/keys_verbs.py), parsed the way llmreg.cli builds verbs."""
from __future__ import annotations

import json
import os
import stat

import pytest

from llmreg.cli import main, verb_parser
from llmreg.registry.errors import BadInput


def parse(argv):
    """argv parsed by the parser `llmreg` builds for that verb (from its command table)."""
    parser, _ = verb_parser(" ".join(argv[:2]))
    return parser.parse_args(argv[2:])


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("LLMREG_SIGNING_KEY", raising=False)
    monkeypatch.delenv("LLMREG_KEY_PASSPHRASE", raising=False)
    return tmp_path


def test_new_then_show_the_default_key(home, capsys):
    args = parse(["keys", "new", "--json", "--comment", "alice@laptop"])
    assert args.func(args) == 0
    made = json.loads(capsys.readouterr().out)
    default = str(home / "xdg" / "llmreg" / "signing_key")
    assert made["path"] == default and made["public_key"].endswith(" alice@laptop") and not made["encrypted"]
    assert stat.S_IMODE(os.stat(default).st_mode) == 0o600
    args = parse(["keys", "show"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert out.splitlines() == [made["public_key"], f"fingerprint {made['fingerprint']} (key {default}, from default)"]
    with pytest.raises(BadInput, match="already exists"):
        args = parse(["keys", "new"])
        args.func(args)


def test_new_out_file_encrypted_and_show_with_key(home, capsys, monkeypatch):
    monkeypatch.setenv("LLMREG_KEY_PASSPHRASE", "s3cret")
    out = str(home / "bot_key")
    args = parse(["keys", "new", "--out", out])
    assert args.func(args) == 0
    assert "encrypted with $LLMREG_KEY_PASSPHRASE" in capsys.readouterr().out
    args = parse(["keys", "show", "--key", out, "--json"])
    assert args.func(args) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["source"] == "--key" and shown["fingerprint"].startswith("SHA256:")
    monkeypatch.delenv("LLMREG_KEY_PASSPHRASE")
    with pytest.raises(BadInput, match="is encrypted; set LLMREG_KEY_PASSPHRASE"):
        args.func(args)


def test_show_without_a_key_says_how_to_make_one(home):
    args = parse(["keys", "show"])
    with pytest.raises(BadInput, match="llmreg keys new"):
        args.func(args)


def test_new_refuses_a_path_inside_the_git_repository_you_work_in(home, monkeypatch):
    (home / "repo" / ".git").mkdir(parents=True)
    (home / "repo" / "src").mkdir()
    monkeypatch.chdir(home / "repo" / "src")
    args = parse(["keys", "new", "--out", str(home / "repo" / "keys" / "me")])
    with pytest.raises(BadInput, match="inside the git repository"):
        args.func(args)
    assert not (home / "repo" / "keys" / "me").exists()
    args = parse(["keys", "new", "--out", str(home / "outside" / "me")])  # elsewhere: fine
    assert args.func(args) == 0


def test_keys_through_the_command_line(home, capsys):
    assert main(["keys", "show"]) == 2
    assert "llmreg keys new" in capsys.readouterr().err
    assert main(["keys", "new", "--comment", "bob@ci"]) == 0
    capsys.readouterr()
    assert main(["keys", "show", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["public_key"].endswith(" bob@ci")
