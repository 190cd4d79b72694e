"""The audit export and the standalone offline verifier (tools/verify_audit_export.py).

The golden vector below is also printed in README.md ("Checking the log yourself"): the
project's encoder and the verifier's re-implementation must both reproduce it.
"""
from __future__ import annotations

import ast
import base64
import hashlib
import importlib.util
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from llmreg.registry.audit_export import ExportedEvent, read_export, write_export
from llmreg.registry.canonical import canonical_json
from llmreg.registry.checkpoint import make_checkpoint, write_checkpoint
from llmreg.registry.errors import BadInput
from llmreg.registry.events import GENESIS_HASH, body_bytes, chain_hash, make_event
from llmreg.registry.keys import SigningKey
from llmreg.registry.signatures import sign_event_hash, verify_event_signature

TOOL = Path(__file__).resolve().parents[2] / "tools" / "verify_audit_export.py"

GOLDEN = dict(seq=1, time="2026-06-10T14:02:00.000000Z", actor="alice", type="approval.granted",
              name="support-triage", version="1.2.0", env="prod",
              payload={"stage": "production", "note": "größer ✓"}, prev_hash=GENESIS_HASH)
GOLDEN_BYTES = ('{"actor":"alice","env":"prod","evidence":{},"name":"support-triage",'
                '"payload":{"note":"größer ✓","stage":"production"},'
                '"prev_hash":"0000000000000000000000000000000000000000000000000000000000000000",'
                '"seq":1,"time":"2026-06-10T14:02:00.000000Z","type":"approval.granted","version":"1.2.0"}')
GOLDEN_BODY_SHA256 = "70d9eae4a895feb472046118047c9c29c420424a6bfbd7fc2c42752b8b74ff64"
GOLDEN_HASH = "f3a4d897c89b7ab046b50ce2b445b9498221ab7701956e0388f235a8e3f63764"
# Signed form: the same event with "signer" (the fingerprint of the key whose 32-byte seed is
# 00 01 .. 1f) in the hashed body, and the deterministic ed25519 SSHSIG over that hash.
GOLDEN_KEY = SigningKey(Ed25519PrivateKey.from_private_bytes(bytes(range(32))))
GOLDEN_SIGNER = "SHA256:lbmsoA0yIEcEiVDRnMWuzm+nV+3ZEEpVIURqFoeSspg"
GOLDEN_SIGNED_HASH = "32fbbb6da72b8e6a70577522a601c0cf24da2b5a08c4dae103c7fa48f55aeccd"
GOLDEN_SIGNATURE = "nnga2DSaR6xpMwPWBAuMokeRoe7x4n/Va5GLMRuzfkq9z4p7Fil0wj4qf0NJ7nJqzcGohGD+Hy3TBaiirhEVAw=="


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location("verify_audit_export", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def golden_row():
    event, payload, evidence = make_event(**GOLDEN)
    return event, {"seq": 1, "time": event.time, "actor": event.actor, "type": event.type, "name": event.name,
                   "version": event.version, "env": event.env, "payload": payload, "evidence": evidence,
                   "prev_hash": GENESIS_HASH, "hash": event.hash, "signer": None, "signature": None}


def test_golden_vector_project_encoder(tool):
    event, row = golden_row()
    body = body_bytes(1, event.time, event.actor, event.type, event.name, event.version, event.env,
                      row["payload"], row["evidence"], GENESIS_HASH)
    assert body.decode("utf-8") == GOLDEN_BYTES
    assert hashlib.sha256(body).hexdigest() == GOLDEN_BODY_SHA256
    assert chain_hash(GENESIS_HASH, body) == event.hash == event.computed_hash() == GOLDEN_HASH


def test_golden_vector_standalone_verifier(tool):
    _, row = golden_row()
    assert tool.body_bytes(row) == GOLDEN_BYTES.encode("utf-8")
    assert tool.chain_hash(GENESIS_HASH, tool.body_bytes(row)) == GOLDEN_HASH


def test_golden_vector_signed(tool):
    event, row = golden_row()
    assert GOLDEN_KEY.fingerprint == GOLDEN_SIGNER
    # A signed event's hashed body is the canonical JSON of the body with "signer" added.
    project = canonical_json({**event.body(), "signer": GOLDEN_SIGNER})
    assert tool.body_bytes({**row, "signer": GOLDEN_SIGNER}) == project
    assert chain_hash(GENESIS_HASH, project) == GOLDEN_SIGNED_HASH
    assert sign_event_hash(GOLDEN_KEY, GOLDEN_SIGNED_HASH) == (GOLDEN_SIGNATURE, GOLDEN_SIGNER)
    assert tool.signature_ok(GOLDEN_KEY.public.crypto_key(), "llmreg-event", GOLDEN_SIGNED_HASH.encode(),
                             GOLDEN_SIGNATURE)


def signed_log(signers: dict[str, SigningKey], steps: list[tuple[str, str, dict]]) -> list[ExportedEvent]:
    """Events signed as the integrated registry will: "signer" in the hashed body, SSHSIG over the hash."""
    out, prev = [], GENESIS_HASH
    for seq, (actor, type_, payload) in enumerate(steps, 1):
        key = signers[actor]
        event, payload_json, evidence_json = make_event(seq=seq, time=f"2026-06-10T14:02:{seq:02d}.000000Z",
                                                        actor=actor, type=type_, payload=payload, prev_hash=prev)
        digest = chain_hash(prev, canonical_json({**event.body(), "signer": key.fingerprint}))
        signature, fingerprint = sign_event_hash(key, digest)
        out.append(ExportedEvent(seq, event.time, actor, type_, None, None, None, payload_json, evidence_json,
                                 prev, digest, fingerprint, signature))
        prev = digest
    return out


ADMIN, ALICE, BOB = SigningKey.generate("admin"), SigningKey.generate("alice"), SigningKey.generate("bob")
KEYS = {"admin": ADMIN, "alice": ALICE, "bob": BOB}
ROLES = {"signers": {"admin": [ADMIN.public.openssh()], "alice": [ALICE.public.openssh()],
                     "bob": [BOB.public.openssh()]}}
STEPS = [("admin", "config.roles", ROLES), ("alice", "evidence.recorded", {"kind": "review"}),
         ("bob", "approval.granted", {"stage": "production"})]


def export_text(events, keys=(ADMIN.public, ALICE.public, BOB.public)) -> str:
    out = io.StringIO()
    assert write_export(out, registry_id="reg-1", events=events, keys=keys, exported_at="t") == len(events)
    return out.getvalue()


def run_tool(tmp_path, text: str, *extra: str) -> subprocess.CompletedProcess:
    path = tmp_path / "audit.jsonl"
    path.write_text(text, encoding="utf-8")
    # -I: isolated mode (no PYTHONPATH, no script folder on sys.path), as an auditor would run it
    return subprocess.run([sys.executable, "-I", str(TOOL), str(path), *extra], capture_output=True,
                          text=True, timeout=120)


def test_round_trip_and_the_verifier_accepts_an_honest_log(tmp_path):
    events = signed_log(KEYS, STEPS)
    text = export_text(events)
    parsed = read_export(io.StringIO(text))
    assert parsed.events == tuple(events) and parsed.head_seq == 3 and parsed.head_hash == events[-1].hash
    assert set(parsed.keys) == {ADMIN.fingerprint, ALICE.fingerprint, BOB.fingerprint}
    assert all(verify_event_signature(parsed.keys[e.signer], e.hash, e.signature) for e in parsed.events)
    done = run_tool(tmp_path, text)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == f"audit ok: 3 events, chain intact, 3 signatures verified, head #3 {events[-1].hash}"


def test_an_unsigned_legacy_log_verifies_its_chain(tmp_path):
    _, row = golden_row()
    done = run_tool(tmp_path, export_text([ExportedEvent(**row)], keys=()))
    assert done.returncode == 0 and "1 events, chain intact, 0 signatures verified" in done.stdout


def test_rewrite_and_rehash_without_the_keys_is_caught(tmp_path):
    honest = signed_log(KEYS, STEPS)
    mallory = SigningKey.generate("mallory")
    # The attacker rewrites who approved and re-signs with a key of their own under bob's name.
    forged = signed_log({**KEYS, "bob": mallory}, STEPS)
    done = run_tool(tmp_path, export_text(forged, keys=(ADMIN.public, ALICE.public, BOB.public, mallory.public)))
    assert done.returncode == 1
    assert done.stdout.strip() == (f"audit FAILED: event 3: key {mallory.fingerprint} is not bound to any "
                                   "member at this point of the log")
    # Or keeps bob's fingerprint on the rehashed event: the signature no longer verifies.
    edited = list(honest)
    e = edited[2]
    body = json.loads(e.payload)
    body["stage"] = "canary"
    payload = canonical_json(body).decode()
    event, _, _ = make_event(seq=3, time=e.time, actor="bob", type=e.type, payload=body, prev_hash=e.prev_hash)
    digest = chain_hash(e.prev_hash, canonical_json({**event.body(), "signer": e.signer}))
    edited[2] = ExportedEvent(3, e.time, "bob", e.type, None, None, None, payload, e.evidence, e.prev_hash, digest,
                              e.signer, e.signature)
    done = run_tool(tmp_path, export_text(edited))
    assert done.returncode == 1 and f"event 3: signature by {BOB.fingerprint} does not verify" in done.stdout


@pytest.mark.parametrize("attack, message", [
    ("edit", "event 2: content does not match its hash"),
    ("drop", "event 2 is missing or out of order"),
    ("strip_signature", "event 3: unsigned, after the log started binding keys to members"),
    ("other_actor", "event 2: actor 'bob' but key"),
    ("backdated", "event 3: time 2026-06-10T14:01:00.000000Z is before event 2's"),
])
def test_tampering_is_named(tmp_path, attack, message):
    events = signed_log(KEYS, STEPS)
    if attack == "edit":
        events[1] = ExportedEvent(**{**events[1].to_dict(), "payload": '{"kind":"forged"}'})
    elif attack == "drop":
        del events[1]
    elif attack == "strip_signature":
        e = events[2]  # signature dropped and the hash recomputed without a signer
        unsigned, _, _ = make_event(seq=3, time=e.time, actor=e.actor, type=e.type, payload=json.loads(e.payload),
                                    prev_hash=e.prev_hash)
        events[2] = ExportedEvent(**{**e.to_dict(), "hash": unsigned.hash, "signer": None, "signature": None})
    elif attack == "backdated":  # signed by bob's own key, hashes right, but dated before event 2
        events = signed_log(KEYS, STEPS)
        e = events[2]
        event, _, _ = make_event(seq=3, time="2026-06-10T14:01:00.000000Z", actor="bob", type=e.type,
                                 payload=json.loads(e.payload), prev_hash=e.prev_hash)
        digest = chain_hash(e.prev_hash, canonical_json({**event.body(), "signer": BOB.fingerprint}))
        signature, _ = sign_event_hash(BOB, digest)
        events[2] = ExportedEvent(**{**e.to_dict(), "time": event.time, "hash": digest, "signature": signature})
    elif attack == "other_actor":  # alice's key, signed as bob: one person, two names
        events = signed_log({**KEYS, "bob": ALICE}, [STEPS[0], ("bob", "approval.granted", {"stage": "x"})])
    done = run_tool(tmp_path, export_text(events))
    assert done.returncode == 1 and message in done.stdout, done.stdout


def test_cut_short_files_and_checkpoints(tmp_path):
    events = signed_log(KEYS, STEPS)
    text = export_text(events)
    cut = "".join(text.splitlines(keepends=True)[:-2])
    done = run_tool(tmp_path, cut)
    assert done.returncode == 2 and "cut short" in done.stderr
    with pytest.raises(BadInput, match="cut short"):
        read_export(io.StringIO(cut))
    cp = tmp_path / "cp.json"
    write_checkpoint(str(cp), make_checkpoint(ADMIN, registry_id="reg-1", seq=3, head_hash=events[2].hash))
    done = run_tool(tmp_path, text, "--checkpoint", str(cp))
    assert done.returncode == 0 and "log extends event 3" in done.stdout, done.stdout + done.stderr
    shorter = export_text(events[:2])
    done = run_tool(tmp_path, shorter, "--checkpoint", str(cp))
    assert done.returncode == 1 and "log truncated" in done.stdout


def test_the_verifier_imports_only_the_stdlib_and_cryptography():
    tree = ast.parse(TOOL.read_text())
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            roots.add(node.module.split(".")[0])
    assert roots - set(sys.stdlib_module_names) == {"cryptography"}


def test_readme_prints_the_same_golden_vector():
    readme = (TOOL.parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Checking the log yourself"):]
    assert GOLDEN_BYTES in section and GOLDEN_BODY_SHA256 in section and GOLDEN_HASH in section
