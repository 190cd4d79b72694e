"""`llmreg audit export`: the event log as JSON Lines, checkable offline by anyone.

    line 1     {"format": "llmreg-audit-export/1", "registry_id": ..., "exported_at": ...,
                "keys": {"SHA256:...": "ssh-ed25519 AAAA... comment", ...}}
    lines 2..  one event each: seq, time, actor, type, name, version, env, payload,
               evidence, prev_hash, hash, signer, signature
    last line  {"end": true, "events": N, "head_seq": ..., "head_hash": ...}

`payload` and `evidence` are the stored canonical JSON *text* (strings), so a verifier
hashes the exact bytes the registry hashed, without a JSON canonicaliser of its own.
`signer` is the key fingerprint and `signature` the base64 SSHSIG (namespace
`llmreg-event`) over the event's hash; both are null on events written before signing.
`keys` holds every public key a signer fingerprint refers to; which member a key speaks
for comes from the log itself (the `signers` of `config.roles` events).
The end line makes a cut-short file fail instead of verifying as a shorter log.

tools/verify_audit_export.py checks such a file with the stdlib and `cryptography` only.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import IO, Any, Iterable, Mapping

from llmreg.registry.errors import BadInput
from llmreg.registry.events import utc_now
from llmreg.registry.keys import PublicKey

FORMAT = "llmreg-audit-export/1"
EVENT_FIELDS = ("seq", "time", "actor", "type", "name", "version", "env", "payload", "evidence",
                "prev_hash", "hash", "signer", "signature")


@dataclass(frozen=True, slots=True)
class ExportedEvent:
    """One stored event row as exported (payload/evidence as their stored JSON text)."""

    seq: int
    time: str
    actor: str
    type: str
    name: str | None
    version: str | None
    env: str | None
    payload: str
    evidence: str
    prev_hash: str
    hash: str
    signer: str | None = None
    signature: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in EVENT_FIELDS}

    def row(self) -> tuple:
        """The 11-column tuple `events.verify_rows` walks."""
        return (self.seq, self.time, self.actor, self.type, self.name, self.version, self.env,
                self.payload, self.evidence, self.prev_hash, self.hash)


@dataclass(frozen=True, slots=True)
class AuditExport:
    registry_id: str
    exported_at: str
    keys: Mapping[str, PublicKey]
    events: tuple[ExportedEvent, ...]
    head_seq: int
    head_hash: str


def write_export(out: IO[str], *, registry_id: str, events: Iterable[ExportedEvent],
                 keys: Iterable[PublicKey] = (), exported_at: str | None = None) -> int:
    """Write the export to `out` (a text stream); returns the number of events written."""
    header = {"format": FORMAT, "registry_id": registry_id, "exported_at": exported_at or utc_now(),
              "keys": {key.fingerprint: key.openssh() for key in keys}}
    out.write(json.dumps(header, sort_keys=True, ensure_ascii=False) + "\n")
    count, head_seq, head_hash = 0, 0, "0" * 64
    for event in events:
        out.write(json.dumps(event.to_dict(), ensure_ascii=False, separators=(",", ":")) + "\n")
        count, head_seq, head_hash = count + 1, event.seq, event.hash
    out.write(json.dumps({"end": True, "events": count, "head_seq": head_seq, "head_hash": head_hash},
                         sort_keys=True) + "\n")
    return count


def read_export(source: IO[str], *, name: str = "export") -> AuditExport:
    """Parse an export; BadInput names the line and the problem. Does not verify hashes."""
    lines = iter(enumerate(source, 1))
    try:
        _, first = next(lines)
    except StopIteration:
        raise BadInput(f"{name}: empty file; write one with `llmreg audit export`", field="export") from None
    header = _json(first, name, 1)
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise BadInput(f"{name}:1: not an llmreg audit export (format {FORMAT!r} expected)", field="export")
    keys = {}
    for fingerprint, line in (header.get("keys") or {}).items():
        key = PublicKey.parse(line, source=f"{name}:1 keys")
        if key.fingerprint != fingerprint:
            raise BadInput(f"{name}:1: key listed as {fingerprint} has fingerprint {key.fingerprint}",
                           field="export")
        keys[fingerprint] = key
    events, end = [], None
    for number, line in lines:
        record = _json(line, name, number)
        if end is not None:
            raise BadInput(f"{name}:{number}: data after the end line", field="export")
        if isinstance(record, dict) and record.get("end") is True:
            end = record
            continue
        if not isinstance(record, dict) or set(record) != set(EVENT_FIELDS):
            raise BadInput(f"{name}:{number}: an event needs exactly the fields {', '.join(EVENT_FIELDS)}",
                           field="export")
        events.append(ExportedEvent(**record))
    if end is None:
        raise BadInput(f"{name}: no end line; the file was cut short, export it again", field="export")
    if end.get("events") != len(events):
        raise BadInput(f"{name}: the end line counts {end.get('events')} events, the file holds {len(events)}",
                       field="export")
    return AuditExport(header["registry_id"], header["exported_at"], keys, tuple(events),
                       int(end["head_seq"]), str(end["head_hash"]))


def _json(line: str, name: str, number: int) -> Any:
    try:
        return json.loads(line)
    except ValueError as exc:
        raise BadInput(f"{name}:{number}: not JSON ({exc})", field="export") from None
