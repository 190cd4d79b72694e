"""Checkpoints of a store, and their publication in a git repository.

    cp = take_checkpoint(registry, key)                        # signed, of a log that verifies
    path, commit = write_checkpoint_to_git("/srv/repo", cp)    # the Dagster schedule calls this
    check = check_against_newest(registry, "/srv/repo")        # the gateway calls this at start

A store's registry id is the hash of its first event: fixed at creation, different for every
store, and covered by every later hash, so a checkpoint of one store cannot vouch for another.
Checkpoints live in a repository as `<folder>/<registry id>/<seq, 12 digits>.json`: ordinary
files that travel with every clone, like git's own history.
"""
from __future__ import annotations

import os
import subprocess
from typing import Any

from llmreg.registry.checkpoint import Checkpoint, CheckpointCheck, make_checkpoint, read_checkpoint, verify_checkpoint
from llmreg.registry.errors import BadInput, IntegrityError

DEFAULT_FOLDER = "audit/checkpoints"


def registry_id(store) -> str:
    first = store.hash_at(1)
    return f"llmreg:{first[:32]}" if first else "llmreg:empty"


def take_checkpoint(registry, key) -> Checkpoint:
    """A checkpoint of the head, signed by `key`, after the full audit passes (a witness of a
    log that already fails would vouch for the damage)."""
    report = registry.verify_audit()
    if not report.ok:
        raise IntegrityError(f"no checkpoint taken: {report.summary()}")
    return make_checkpoint(key, registry_id=registry_id(registry.store), seq=report.head_seq,
                           head_hash=report.head_hash)


def trusted_signers(registry, trust_file: str | None = None) -> Any:
    """Keys trusted to sign checkpoints: an allowed-signers file, else the members bound in the
    log now, else every key that signed an event (embedded mode: check the printed signer)."""
    from llmreg.registry.keys import PublicKey
    from llmreg.registry.signers import read_allowed_signers

    if trust_file:
        return read_allowed_signers(trust_file)
    row = registry.store.config("signers")
    if row and row[0]:
        from llmreg.registry.signers import AllowedSigners

        return AllowedSigners.from_payload(row[0])
    return {fp: PublicKey.parse(line) for fp, line in registry.store.public_keys().items()}


def check_checkpoint(registry, cp: Checkpoint, signers: Any) -> CheckpointCheck:
    return verify_checkpoint(cp, registry.store.hash_at, signers, registry_id=registry_id(registry.store))


def write_checkpoint_to_git(repo: str, cp: Checkpoint, *, folder: str = DEFAULT_FOLDER, commit: bool = True,
                            message: str | None = None) -> tuple[str, str | None]:
    """Write `cp` under repo/folder/<registry id>/<seq>.json and commit just that file.
    Returns (path, commit sha or None when commit=False). BadInput when repo is not a git work tree."""
    if not os.path.isdir(os.path.join(repo, ".git")) and not os.path.isfile(os.path.join(repo, ".git")):
        raise BadInput(f"checkpoint repository {repo}: not a git work tree; `git init` it or pass another",
                       field="repo")
    directory = os.path.join(repo, folder, cp.registry_id.replace(":", "-"))
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"{cp.seq:012d}.json")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(cp.to_text())
    if not commit:
        return path, None
    rel = os.path.relpath(path, repo)
    git = ["git", "-C", repo, "-c", "user.name=llmreg", "-c", "user.email=llmreg@localhost"]
    subprocess.run([*git, "add", "--", rel], check=True, capture_output=True)
    subprocess.run([*git, "commit", "-q", "-m", message or f"audit checkpoint #{cp.seq} of {cp.registry_id}",
                    "--", rel], check=True, capture_output=True)
    sha = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    return path, sha


def newest_checkpoint(repo: str, rid: str, *, folder: str = DEFAULT_FOLDER) -> Checkpoint | None:
    directory = os.path.join(repo, folder, rid.replace(":", "-"))
    try:
        names = sorted(n for n in os.listdir(directory) if n.endswith(".json"))
    except FileNotFoundError:
        return None
    return read_checkpoint(os.path.join(directory, names[-1])) if names else None


def check_against_newest(registry, repo: str, *, folder: str = DEFAULT_FOLDER,
                         trust_file: str | None = None) -> CheckpointCheck:
    """Does the store extend the newest checkpoint published for it in `repo`? (The gateway
    refuses to start when not ok; kind "none" when nothing was published yet.)"""
    cp = newest_checkpoint(repo, registry_id(registry.store), folder=folder)
    if cp is None:
        return CheckpointCheck(True, f"no checkpoint of {registry_id(registry.store)} in {repo}/{folder}", "none")
    return check_checkpoint(registry, cp, trusted_signers(registry, trust_file))
