"""Signed checkpoints: a witness of the log kept outside the database.

A checkpoint says "registry R had event #seq with hash H at time T", signed by a key. The
hash of an event covers every event before it, so a log that still has H at #seq has not
changed anything up to there; one that lacks #seq was truncated, one with another hash
there was rewritten. Whoever keeps the file (a git repository, a ticket) can check that,
without trusting the database or whoever runs it.

File format: one JSON object (canonical JSON, then a newline). The signature is an SSHSIG
in namespace `llmreg-checkpoint` over the canonical JSON of every other field, so it
verifies with `ssh-keygen -Y check-novalidate -n llmreg-checkpoint` too. Pure: no
database code; the caller hands in `hash_at_seq`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from llmreg.registry import signatures
from llmreg.registry.canonical import canonical_json
from llmreg.registry.errors import BadInput
from llmreg.registry.events import utc_now
from llmreg.registry.keys import PublicKey, SigningKey
from llmreg.registry.signers import AllowedSigners

FORMAT = "llmreg-checkpoint/1"
_FIELDS = ("format", "registry_id", "seq", "head_hash", "time", "signer")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    registry_id: str
    seq: int
    head_hash: str
    time: str
    signer: str  # fingerprint, SHA256:...
    signature: str  # base64, SSHSIG namespace llmreg-checkpoint

    def signed_bytes(self) -> bytes:
        return canonical_json({"format": FORMAT, "registry_id": self.registry_id, "seq": self.seq,
                               "head_hash": self.head_hash, "time": self.time, "signer": self.signer})

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "registry_id": self.registry_id, "seq": self.seq, "head_hash": self.head_hash,
                "time": self.time, "signer": self.signer, "signature": self.signature}

    def to_text(self) -> str:
        return canonical_json(self.to_dict()).decode("utf-8") + "\n"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "checkpoint") -> "Checkpoint":
        if not isinstance(data, Mapping):
            raise BadInput(f"{source}: expected a JSON object written by `llmreg audit checkpoint`", field="checkpoint")
        if data.get("format") != FORMAT:
            raise BadInput(f"{source}: format {data.get('format')!r} is not {FORMAT!r}; pass a file written by "
                           "`llmreg audit checkpoint`", field="checkpoint")
        missing = [name for name in (*_FIELDS, "signature") if name not in data]
        if missing:
            raise BadInput(f"{source}: missing {', '.join(missing)}; the file is incomplete, take it again from "
                           "where it was published", field="checkpoint")
        seq, head = data["seq"], data["head_hash"]
        if type(seq) is not int or seq < 0:
            raise BadInput(f"{source}: seq must be a non-negative integer, found {seq!r}", field="checkpoint")
        if not (isinstance(head, str) and len(head) == 64 and all(c in "0123456789abcdef" for c in head)):
            raise BadInput(f"{source}: head_hash must be 64 lowercase hex characters", field="checkpoint")
        for name in ("registry_id", "time", "signer", "signature"):
            if not isinstance(data[name], str) or not data[name]:
                raise BadInput(f"{source}: {name} must be a non-empty string", field="checkpoint")
        return cls(data["registry_id"], seq, head, data["time"], data["signer"], data["signature"])


def make_checkpoint(key: SigningKey, *, registry_id: str, seq: int, head_hash: str,
                    time: str | None = None) -> Checkpoint:
    unsigned = Checkpoint(registry_id, int(seq), head_hash, time or utc_now(), key.fingerprint, "")
    signature = signatures.sign(key, signatures.CHECKPOINT_NAMESPACE, unsigned.signed_bytes())
    return Checkpoint(registry_id, int(seq), head_hash, unsigned.time, key.fingerprint, signature)


def write_checkpoint(path: str, checkpoint: Checkpoint) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(checkpoint.to_text())


def read_checkpoint(path: str) -> Checkpoint:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        raise BadInput(f"checkpoint {path}: no such file; pass a file written by `llmreg audit checkpoint`",
                       field="checkpoint") from None
    except (OSError, UnicodeError, ValueError) as exc:
        raise BadInput(f"checkpoint {path}: not a JSON checkpoint ({' '.join(str(exc).split())[:80]}); pass a "
                       "file written by `llmreg audit checkpoint`", field="checkpoint") from None
    return Checkpoint.from_dict(data, source=f"checkpoint {path}")


@dataclass(frozen=True, slots=True)
class CheckpointCheck:
    ok: bool
    reason: str
    # "ok" | "bad_signature" | "unknown_signer" | "other_registry" | "truncated" | "rewritten"
    kind: str


Signers = AllowedSigners | Mapping[str, PublicKey] | Iterable[PublicKey]


def _lookup(signers: Signers, fingerprint: str) -> PublicKey | None:
    if isinstance(signers, AllowedSigners):
        return signers.public_key(fingerprint)
    if isinstance(signers, Mapping):
        found = signers.get(fingerprint)
        return PublicKey.parse(found) if isinstance(found, str) else found
    return next((key for key in signers if key.fingerprint == fingerprint), None)


def verify_checkpoint(cp: Checkpoint, hash_at_seq: Callable[[int], str | None], signers: Signers, *,
                      registry_id: str | None = None) -> CheckpointCheck:
    """Does the log (read through `hash_at_seq`) extend the signed checkpoint `cp`?

    `signers`: the keys trusted to sign checkpoints (AllowedSigners, {fingerprint: key} or keys).
    `hash_at_seq(n)` is the stored hash of event n, None when the log has no event n."""
    label = f"checkpoint #{cp.seq} of {cp.time}"
    key = _lookup(signers, cp.signer)
    if key is None:
        return CheckpointCheck(False, f"{label} is signed by {cp.signer}, which is not a trusted signer", "unknown_signer")
    if not signatures.verify(key, signatures.CHECKPOINT_NAMESPACE, cp.signed_bytes(), cp.signature):
        return CheckpointCheck(False, f"{label}: signature does not verify (the file was edited or forged)",
                               "bad_signature")
    if registry_id is not None and cp.registry_id != registry_id:
        return CheckpointCheck(False, f"{label} is for registry {cp.registry_id}, this store is {registry_id}",
                               "other_registry")
    if cp.seq == 0:  # a checkpoint of the empty log: everything extends it
        return CheckpointCheck(True, f"{label}: empty log, nothing to compare", "ok")
    stored = hash_at_seq(cp.seq)
    if stored is None:
        return CheckpointCheck(False, f"log truncated: {label} has event {cp.seq} (hash {cp.head_hash[:16]}...), "
                                      f"the log has no event {cp.seq}", "truncated")
    if stored != cp.head_hash:
        return CheckpointCheck(False, f"log rewritten at or before event {cp.seq}: {label} has hash "
                                      f"{cp.head_hash[:16]}..., the log has {stored[:16]}...", "rewritten")
    return CheckpointCheck(True, f"log extends {label} (event {cp.seq}, hash {cp.head_hash[:16]}...)", "ok")
