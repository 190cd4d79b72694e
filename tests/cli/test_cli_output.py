"""What `llmreg` prints for bumps and retrieval, and that every verb closes the store it opened."""
from __future__ import annotations

import contextlib
import io

import pytest

from .test_cli import ENTRY, Cli


@pytest.fixture
def cli(tmp_path):
    return Cli(tmp_path)


def test_list_and_card_name_the_bump_kind_once(cli):
    cli.write("entry.yaml", ENTRY)
    cli.write("entry2.yaml", ENTRY.replace("triage-prompt@v9", "triage-prompt@v10"))
    cli("register", "entry.yaml", actor="alice")
    cli("register", "entry2.yaml", actor="alice")
    listing = cli("list", "support-triage").stdout
    assert "(minor: prompt_ref changed)" in listing and "(initial: first version)" in listing
    assert "minor: minor:" not in listing
    card = cli("card", "support-triage@1.1.0").stdout
    assert "(minor: prompt_ref changed)" in card and "minor: minor:" not in card
    log = cli("audit", "log", "--type", "entry.registered").stdout
    assert "registered (minor: prompt_ref changed)" in log and "minor: minor:" not in log


def test_resolve_shows_retrieval_and_verify_lists_its_files(cli):
    index = cli.root / "index"
    index.mkdir()
    (index / "docs.jsonl").write_text("doc-1\tpassword resets\n")
    from llmreg.registry.artifacts import hash_tree

    digest, _ = hash_tree(index)
    cli.write("entry.yaml", ENTRY + "retrieval:\n"
                                    f"  index: {{ref: kb-index@2026-06-01, sha256: {digest}, uri: index}}\n"
                                    "  embedder: kb-embedder@1.0.0\n")
    cli.write("gates.yaml", "eval_threshold: 0.9\n")
    cli("gates", "set", "gates.yaml", actor="admin")
    cli("register", "entry.yaml", actor="alice")
    cli("promote", "support-triage@1.0.0", "--to", "staging", actor="ci")
    out = cli("resolve", "support-triage", "--stage", "staging").stdout
    assert f"  retrieval:  index kb-index@2026-06-01 sha256:{digest[:16]}..." in out
    assert "  retrieval:  embedder kb-embedder@1.0.0" in out
    verified = cli("verify", "support-triage@1.0.0").stdout
    assert f"ok  support-triage@1.0.0 retrieval.index: {digest}" in verified
    assert "verified 1 artifact(s): all match" in verified


@pytest.mark.parametrize(
    ("argv", "code"),
    [(["list"], 0), (["resolve", "nothing-here"], 1), (["show", "support-triage"], 0), (["audit", "verify"], 0)],
)
def test_every_verb_closes_the_registry_it_opened(tmp_path, monkeypatch, argv, code):
    from llmreg.cli import main
    from llmreg.registry.api import Registry
    from llmreg.registry.read_facade import RegistryReads

    store = f"sqlite:///{tmp_path / 'registry.db'}"
    with Registry.open(store) as reg:
        reg.register({"name": "support-triage", "model": "gpt-5-mini-2026-06-01"}, actor="alice")
    opened, closed = [], []
    real_close = RegistryReads.close

    def spy(real):
        def spy_open(cls, *args, **kwargs):
            reg = real(cls, *args, **kwargs)
            opened.append(reg)
            return reg
        return classmethod(spy_open)

    def spy_close(self):
        closed.append(self)
        real_close(self)

    # read verbs open the read side only (RegistryReads), the others the whole Registry
    monkeypatch.setattr(Registry, "open", spy(Registry.open.__func__))
    monkeypatch.setattr(RegistryReads, "open", spy(RegistryReads.open.__func__))
    monkeypatch.setattr(RegistryReads, "close", spy_close)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main([*argv, "--store", store]) == code
    assert opened and closed == opened  # closed on success and on a refusal alike


def test_gates_show_says_which_fairness_bound_applies_when_none_is_set(cli):
    cli.write("entry.yaml", ENTRY)
    cli("register", "entry.yaml", actor="alice")  # a store to read (read verbs never create one)
    shown = cli("gates", "show").stdout
    assert "fairness_max_gap not set" in shown and "built-in default 0.1" in shown
    assert "fairness_max_gap" not in cli("gates", "show", as_json=True).data
    cli.write("gates.yaml", "fairness_max_gap: 0.05\n")
    cli("gates", "set", "gates.yaml", actor="admin")
    assert "fairness_max_gap: 0.05" in cli("gates", "show").stdout
    assert cli("gates", "show", as_json=True).data["fairness_max_gap"] == 0.05
