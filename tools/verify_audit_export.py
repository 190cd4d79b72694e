#!/usr/bin/env python3
"""Check an `llmreg audit export` file offline, without installing llm-registry.

    pip install cryptography
    python verify_audit_export.py registry-audit.jsonl [--checkpoint FILE ...]

Imports only the Python standard library and `cryptography`, and re-implements the
registry's event encoding on purpose, so an auditor can read every line that decides the
verdict. Checks, and names the first event that fails:
  1. the hash chain: seq 1, 2, 3, ...; each prev_hash is the hash before it; each hash is
     sha256(prev_hash as ASCII + the event's canonical JSON, described in `body_bytes`);
  2. every signature: an SSHSIG (namespace "llmreg-event", ed25519) over the event's hash
     (64 hex characters as ASCII), by the key the event's `signer` fingerprint names;
  3. once the log binds members to keys (the `signers` of a `config.roles` event:
     {member: ["ssh-ed25519 AAAA...", ...]}), that each signed event's actor is the member
     its key belongs to at that point of the log;
  4. event times never go backwards;
  5. with --checkpoint, that the log extends each signed checkpoint (same hash at its seq);
     the line printed names the checkpoint's signer: check it is a key you trust.
Exit 0: all checks pass; 1: a check failed; 2: the file could not be read.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import struct
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

GENESIS_HASH = "0" * 64
EXPORT_FORMAT = "llmreg-audit-export/1"
CHECKPOINT_FORMAT = "llmreg-checkpoint/1"
_KEY_PREFIX = b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20"


def _str(value):
    """A JSON string exactly as the registry writes it (UTF-8 kept, no ASCII escaping)."""
    return json.dumps(value, ensure_ascii=False)


def _str_or_null(value):
    return "null" if value is None else _str(value)


def body_bytes(event):
    """The canonical JSON of an event without its hash: keys in sorted order, no spaces.
    payload and evidence are inserted as their stored canonical JSON text. `signer` is present
    only on signed events (its key sorts between "seq" and "time")."""
    signer = event.get("signer")
    return (
        '{"actor":' + _str(event["actor"])
        + ',"env":' + _str_or_null(event["env"])
        + ',"evidence":' + event["evidence"]
        + ',"name":' + _str_or_null(event["name"])
        + ',"payload":' + event["payload"]
        + ',"prev_hash":' + _str(event["prev_hash"])
        + ',"seq":' + str(int(event["seq"]))
        + (',"signer":' + _str(signer) if signer is not None else "")
        + ',"time":' + _str(event["time"])
        + ',"type":' + _str(event["type"])
        + ',"version":' + _str_or_null(event["version"])
        + "}"
    ).encode("utf-8")


def chain_hash(prev_hash, body):
    return hashlib.sha256(prev_hash.encode("ascii") + body).hexdigest()


def parse_public_key(line):
    """'ssh-ed25519 AAAA... comment' -> (raw 32 bytes, fingerprint as `ssh-keygen -l` prints it)."""
    kind, data = line.split()[:2]
    blob = base64.b64decode(data, validate=True)
    if kind != "ssh-ed25519" or len(blob) != 51 or not blob.startswith(_KEY_PREFIX):
        raise ValueError(f"not an ssh-ed25519 public key: {line[:40]!r}")
    fingerprint = "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return blob[19:], fingerprint


def _sshsig_signed_data(namespace, message):
    """What ed25519 signs in an SSHSIG (OpenSSH PROTOCOL.sshsig), as `ssh-keygen -Y` and git do."""
    def string(data):
        return struct.pack(">I", len(data)) + data
    return (b"SSHSIG" + string(namespace.encode()) + string(b"") + string(b"sha512")
            + string(hashlib.sha512(message).digest()))


def signature_ok(key, namespace, message, signature_b64):
    try:
        signature = base64.b64decode(signature_b64, validate=True)
        key.verify(signature, _sshsig_signed_data(namespace, message))
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


class Failed(Exception):
    pass


def verify_events(events, keys):
    """Walk the events in order; returns (count, signed count, head seq, head hash) or raises Failed."""
    prev_hash, expected_seq, signed, prev_time = GENESIS_HASH, 1, 0, ""
    crypto = {fp: Ed25519PublicKey.from_public_bytes(raw) for fp, raw in keys.items()}
    bindings = None  # fingerprint -> member (case-folded), once a config.roles event binds keys
    for event in events:
        seq = event["seq"]
        if seq != expected_seq:
            raise Failed(f"event {expected_seq} is missing or out of order (found event {seq})")
        if event["prev_hash"] != prev_hash:
            raise Failed(f"event {seq}: prev_hash does not match the hash of event {seq - 1}")
        if chain_hash(prev_hash, body_bytes(event)) != event["hash"]:
            raise Failed(f"event {seq}: content does not match its hash (edited after it was written)")
        if event["time"] < prev_time:  # fixed-width UTC times: string order is time order
            raise Failed(f"event {seq}: time {event['time']} is before event {seq - 1}'s {prev_time}")
        prev_time = event["time"]
        signer = event["signer"]
        if signer is not None:
            if signer not in crypto:
                raise Failed(f"event {seq}: signed by {signer}, whose public key is not in the export")
            if not signature_ok(crypto[signer], "llmreg-event", event["hash"].encode("ascii"), event["signature"]):
                raise Failed(f"event {seq}: signature by {signer} does not verify")
            if bindings is not None:
                member = bindings.get(signer)
                if member is None:
                    raise Failed(f"event {seq}: key {signer} is not bound to any member at this point of the log")
                if member != event["actor"].casefold():
                    raise Failed(f"event {seq}: actor {event['actor']!r} but key {signer} belongs to {member!r}")
            signed += 1
        elif bindings is not None:
            raise Failed(f"event {seq}: unsigned, after the log started binding keys to members")
        if event["type"] == "config.roles":
            listed = json.loads(event["payload"]).get("signers")
            if listed is not None:
                bindings = {}
                for member, lines in listed.items():
                    for line in lines:
                        raw, fingerprint = parse_public_key(line)
                        bindings[fingerprint] = member.casefold()
                        crypto.setdefault(fingerprint, Ed25519PublicKey.from_public_bytes(raw))
        prev_hash, expected_seq = event["hash"], seq + 1
    return expected_seq - 1, signed, expected_seq - 1, prev_hash


def read_export(path):
    with open(path, encoding="utf-8") as handle:
        lines = [json.loads(line) for line in handle if line.strip()]
    if not lines or lines[0].get("format") != EXPORT_FORMAT:
        raise ValueError(f"{path}: not an llmreg audit export ({EXPORT_FORMAT})")
    if not lines[-1].get("end"):
        raise ValueError(f"{path}: no end line; the file was cut short")
    header, events, end = lines[0], lines[1:-1], lines[-1]
    if end["events"] != len(events):
        raise ValueError(f"{path}: the end line counts {end['events']} events, the file holds {len(events)}")
    keys = {}
    for listed_fp, line in header.get("keys", {}).items():
        raw, fingerprint = parse_public_key(line)
        if fingerprint != listed_fp:
            raise ValueError(f"{path}: key listed as {listed_fp} has fingerprint {fingerprint}")
        keys[fingerprint] = raw
    return header, events, end, keys


def check_checkpoint(path, header, hashes, keys):
    """Does the exported log extend the checkpoint in `path`? Returns a line; raises Failed."""
    with open(path, encoding="utf-8") as handle:
        cp = json.load(handle)
    if cp.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not an llmreg checkpoint ({CHECKPOINT_FORMAT})")
    signed = {k: cp[k] for k in ("format", "registry_id", "seq", "head_hash", "time", "signer")}
    message = json.dumps(signed, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if cp["signer"] not in keys:
        raise Failed(f"checkpoint {path}: signer {cp['signer']} is not a key in the export")
    if not signature_ok(Ed25519PublicKey.from_public_bytes(keys[cp["signer"]]), "llmreg-checkpoint",
                        message, cp["signature"]):
        raise Failed(f"checkpoint {path}: signature does not verify")
    if cp["registry_id"] != header["registry_id"]:
        raise Failed(f"checkpoint {path} is for registry {cp['registry_id']}, the export is {header['registry_id']}")
    seq = cp["seq"]
    if seq == 0:
        return f"checkpoint {path}: empty log"
    if seq > len(hashes):
        raise Failed(f"log truncated: checkpoint {path} has event {seq}, the export ends at {len(hashes)}")
    if hashes[seq - 1] != cp["head_hash"]:
        raise Failed(f"log rewritten at or before event {seq}: checkpoint {path} disagrees")
    return f"checkpoint {path}: log extends event {seq} (signed by {cp['signer']} at {cp['time']})"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("export")
    parser.add_argument("--checkpoint", action="append", default=[])
    args = parser.parse_args(argv)
    try:
        header, events, end, keys = read_export(args.export)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        print(f"unreadable: {exc}", file=sys.stderr)
        return 2
    try:
        count, signed, head_seq, head_hash = verify_events(events, keys)
        if (head_seq, head_hash) != (end["head_seq"], end["head_hash"]):
            raise Failed(f"the end line names head #{end['head_seq']}, the events end at #{head_seq}")
        # Checkpoint signers: any key in the export or bound in the log (verify_events added those).
        all_keys = dict(keys)
        for event in events:
            if event["type"] == "config.roles":
                for lines in (json.loads(event["payload"]).get("signers") or {}).values():
                    for line in lines:
                        raw, fingerprint = parse_public_key(line)
                        all_keys.setdefault(fingerprint, raw)
        hashes = [event["hash"] for event in events]
        notes = [check_checkpoint(path, header, hashes, all_keys) for path in args.checkpoint]
    except Failed as exc:
        print(f"audit FAILED: {exc}")
        return 1
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        print(f"unreadable: {exc}", file=sys.stderr)
        return 2
    for note in notes:
        print(note)
    print(f"audit ok: {count} events, chain intact, {signed} signatures verified, head #{head_seq} {head_hash}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
