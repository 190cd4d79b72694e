"""From a wheel (no project checkout), verbs that drive evals/training say so in one line."""
from __future__ import annotations

import builtins
import sys

from llmreg.cli import main


def test_a_verb_needing_the_project_checkout_says_so(monkeypatch, capsys):
    real_import = builtins.__import__

    def no_project(name, *args, **kwargs):
        if name.split(".")[0] in ("evals", "training"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real_import(name, *args, **kwargs)

    for mod in [m for m in sys.modules if m.split(".")[0] in ("evals", "training")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setattr(builtins, "__import__", no_project)
    code = main(["providers", "discover", "--config", "providers.yaml", "--actor", "ci"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "needs the llm-registry project checkout" in err and len(err.strip().splitlines()) == 1
