"""Signed checkpoints detect a log that was truncated or rewritten before them."""
from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from llmreg.registry import signatures
from llmreg.registry.checkpoint import (Checkpoint, make_checkpoint, read_checkpoint, verify_checkpoint,
                                        write_checkpoint)
from llmreg.registry.errors import BadInput
from llmreg.registry.events import GENESIS_HASH, make_event
from llmreg.registry.keys import SigningKey
from llmreg.registry.signers import AllowedSigners

KEY = SigningKey.generate("ops")
SIGNERS = AllowedSigners.from_payload({"ops": [KEY.public.openssh()]})


def chain(n: int, actor: str = "alice") -> list[str]:
    hashes, prev = [], GENESIS_HASH
    for seq in range(1, n + 1):
        event, _, _ = make_event(seq=seq, time=f"2026-01-01T00:00:{seq:02d}.000000Z", actor=actor,
                                 type="config.gates", payload={"n": seq}, prev_hash=prev)
        hashes.append(event.hash)
        prev = event.hash
    return hashes


def lookup(hashes):
    return lambda seq: hashes[seq - 1] if 1 <= seq <= len(hashes) else None


def test_file_round_trip_and_the_log_extends_it(tmp_path):
    log = chain(5)
    cp = make_checkpoint(KEY, registry_id="reg-1", seq=3, head_hash=log[2])
    path = str(tmp_path / "cp.json")
    write_checkpoint(path, cp)
    again = read_checkpoint(path)
    assert again == cp and again.signer == KEY.fingerprint
    assert set(json.loads(open(path).read())) == {"format", "registry_id", "seq", "head_hash", "time",
                                                  "signer", "signature"}
    check = verify_checkpoint(again, lookup(log), SIGNERS, registry_id="reg-1")
    assert check.ok and check.kind == "ok", check.reason
    assert verify_checkpoint(again, lookup(log), {KEY.fingerprint: KEY.public}).ok
    assert verify_checkpoint(again, lookup(log), [KEY.public]).ok


def test_truncated_log_is_reported():
    log = chain(5)
    cp = make_checkpoint(KEY, registry_id="reg-1", seq=5, head_hash=log[4])
    check = verify_checkpoint(cp, lookup(log[:3]), SIGNERS)
    assert not check.ok and check.kind == "truncated"
    assert check.reason.startswith("log truncated: checkpoint #5") and "the log has no event 5" in check.reason


def test_rewritten_log_is_reported_even_when_rehashed():
    log = chain(5)
    cp = make_checkpoint(KEY, registry_id="reg-1", seq=4, head_hash=log[3])
    forged = chain(5, actor="mallory")  # every hash recomputed with the project's own code
    check = verify_checkpoint(cp, lookup(forged), SIGNERS)
    assert not check.ok and check.kind == "rewritten"
    assert check.reason.startswith("log rewritten at or before event 4")


def test_forged_or_foreign_checkpoints_are_refused():
    log = chain(3)
    cp = make_checkpoint(KEY, registry_id="reg-1", seq=3, head_hash=log[2])
    edited = Checkpoint(cp.registry_id, 2, log[1], cp.time, cp.signer, cp.signature)
    assert verify_checkpoint(edited, lookup(log), SIGNERS).kind == "bad_signature"
    stranger = make_checkpoint(SigningKey.generate(), registry_id="reg-1", seq=3, head_hash=log[2])
    assert verify_checkpoint(stranger, lookup(log), SIGNERS).kind == "unknown_signer"
    assert verify_checkpoint(cp, lookup(log), SIGNERS, registry_id="reg-2").kind == "other_registry"
    empty = make_checkpoint(KEY, registry_id="reg-1", seq=0, head_hash=GENESIS_HASH)
    assert verify_checkpoint(empty, lookup([]), SIGNERS).ok


def test_bad_files(tmp_path):
    with pytest.raises(BadInput, match="no such file"):
        read_checkpoint(str(tmp_path / "none.json"))
    path = tmp_path / "bad.json"
    for content, problem in [("{", "not a JSON checkpoint"), ('{"format": "x"}', "format 'x'"),
                             ('{"format": "llmreg-checkpoint/1"}', "missing registry_id"),
                             (json.dumps({"format": "llmreg-checkpoint/1", "registry_id": "r", "seq": -1,
                                          "head_hash": "0" * 64, "time": "t", "signer": "s", "signature": "x"}),
                              "seq must be")]:
        path.write_text(content)
        with pytest.raises(BadInput, match=problem):
            read_checkpoint(str(path))


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen is not installed (apt-get install openssh-client)")
def test_ssh_keygen_verifies_a_checkpoint_signature(tmp_path):
    cp = make_checkpoint(KEY, registry_id="reg-1", seq=1, head_hash=chain(1)[0])
    sig = tmp_path / "cp.sig"
    sig.write_text(signatures.armor(KEY.public, signatures.CHECKPOINT_NAMESPACE, cp.signature))
    done = subprocess.run(["ssh-keygen", "-Y", "check-novalidate", "-n", "llmreg-checkpoint", "-s", str(sig)],
                          input=cp.signed_bytes(), capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
