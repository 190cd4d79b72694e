"""The audit trail: verifying the hash chain of a store and showing events to people.

The event log is the audit trail. `AuditReport` is the result of walking it: whether every
event's hash matches its content and links to the one before, and where it first breaks.
The head hash it reports can be anchored elsewhere (a ticket, a commit): a later report
with the same head proves nothing before it was changed, and one with a different head
shows how far the log grew.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from llmreg.registry.spec import bump_summary
from llmreg.registry.events import Event


@dataclass(frozen=True, slots=True)
class AuditReport:
    ok: bool
    events: int
    head_seq: int
    head_hash: str
    first_bad_seq: int | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "events": self.events, "head_seq": self.head_seq, "head_hash": self.head_hash,
                "first_bad_seq": self.first_bad_seq, "reason": self.reason}

    def summary(self) -> str:
        if self.ok:
            return f"audit ok: {self.events} events, chain intact, head #{self.head_seq} {self.head_hash}"
        return f"audit FAILED at event {self.first_bad_seq}: {self.reason}"


def describe(event: Event) -> str:
    """One line per event for `llmreg audit log` and `history`."""
    p = event.payload
    subject = event.ref or "-"
    where = f" [{event.env}]" if event.env else ""
    t = event.type
    if t == "entry.registered":
        entry = p.get("entry", {})
        what = f"registered ({bump_summary(entry.get('bump'), entry.get('bump_reason'))})"
    elif t == "stage.promoted":
        weight = f" weight {p['weight']:g}" if p.get("weight") is not None else ""
        displaced = f", replacing {p['displaced']}" if p.get("displaced") else ""
        what = f"promoted {p.get('from')} -> {p.get('stage')}{weight}{displaced}"
    elif t == "stage.rolled_back" and p.get("stage") == "canary":
        what = "pulled from canary"
        if p.get("reason"):
            what += f" ({p['reason']})"
    elif t == "stage.rolled_back":
        what = f"rolled back production from {p.get('from')} to {event.version}"
        if p.get("reason"):
            what += f" ({p['reason']})"
    elif t == "stage.archived":
        what = f"archived (was {p.get('from')})"
    elif t in ("gate.passed", "gate.failed"):
        what = f"{'passed' if t == 'gate.passed' else 'FAILED'} gate {p.get('gate')} for {p.get('target')}: {p.get('detail')}"
    elif t in ("approval.granted", "approval.withdrawn"):
        what = f"{'approved' if t == 'approval.granted' else 'withdrew approval'} for {p.get('stage')}"
    elif t == "review.recorded":
        notes = f": {p['notes']}" if p.get("notes") else ""
        what = f"review {p.get('decision')}{notes}"
    elif t == "evidence.recorded":
        what = f"evidence {p.get('kind')} {json.dumps(p.get('data'), sort_keys=True)}"
    elif t == "eval.recorded":
        e = p.get("eval", {})
        what = f"eval {e.get('suite')} score {e.get('score')} run {e.get('run')}"
    elif t == "action.refused":
        what = f"REFUSED {p.get('action')}: {p.get('reason')}"
    elif t in ("config.roles", "config.gates", "config.approvals", "config.drift"):
        what = f"configured {t.split('.', 1)[1]}"
    elif t == "suite.registered":
        what = f"suite registered (threshold {p.get('threshold')})"
    elif t == "rollback.drill":  # handlers/drill.py
        failed = [c.get("name") for c in p.get("checks") or () if not c.get("ok")]
        what = (f"rollback drill {p.get('current')} -> {p.get('target')}: "
                + ("ok" if p.get("ok") else f"FAILED ({', '.join(failed) or p.get('reason')})"))
    elif t == "artifacts.collected":  # handlers/gc.py
        what = (f"gc removed the stored copies of {', '.join(p.get('removed_versions') or ()) or 'no versions'} "
                f"({len(p.get('removed_digests') or ())} objects; {p.get('policy_source')})")
    elif t == "version.flagged":  # handlers/drift.py
        what = f"drift flag, action {p.get('action')}: {'; '.join(map(str, p.get('reasons') or ()))}"
    else:
        what = t
    return f"#{event.seq} {event.time} {event.actor} {subject}{where} {what}"
