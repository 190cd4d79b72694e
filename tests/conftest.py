"""A keyring for the whole test session: every test actor really signs, with its own key.

Every registry write is signed by its actor's key (llmreg/registry/identity.py). Tests keep
their actor names (alice, bob, ci, system:slo-guard, ...): $LLMREG_KEYRING points at a folder
with one generated ed25519 key per actor, so in-process registries and CLI subprocesses
(they inherit the environment) sign as distinct identities. An actor name a test invents
gets its key on first use.
"""
from __future__ import annotations

import os
import shutil
import tempfile

ACTORS = ("a", "b", "alice", "bob", "carol", "dana", "dave", "eve", "mallory", "admin", "ci", "ci-bot", "oncall",
          "release-bot", "rm", "ops", "root", "writer", "watcher", "other", "slo", "slo-guard",
          "system:slo-guard", "system:promote-on-eval", "system:watcher", "system:provider-watch",
          *(f"worker-{n}" for n in range(16)))

_made: list[str] = []


def _create(ring: str, actor: str) -> None:
    from llmreg.registry.errors import BadInput
    from llmreg.registry.keys import write_new_key

    try:
        write_new_key(os.path.join(ring, f"{actor}.key"), comment=f"{actor}@tests")
    except BadInput:  # another process created it first
        pass


def pytest_configure(config) -> None:
    if os.environ.get("LLMREG_KEYRING"):
        ring = os.environ["LLMREG_KEYRING"]
    else:
        ring = tempfile.mkdtemp(prefix="llmreg-test-keyring-")
        os.chmod(ring, 0o700)
        _made.append(ring)
        os.environ["LLMREG_KEYRING"] = ring
        for actor in ACTORS:
            _create(ring, actor)
    from llmreg.registry.identity import KeySource

    KeySource.on_missing = _create


def pytest_unconfigure(config) -> None:
    for ring in _made:
        shutil.rmtree(ring, ignore_errors=True)


# CI explores the same hypothesis examples on every run (derandomize), so a green run is
# repeatable; local runs stay random and keep finding new cases (the fuzz suite found "0_").
if os.environ.get("CI"):
    from hypothesis import settings as _hypothesis_settings

    _hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
    _hypothesis_settings.load_profile("ci")
