"""registry_audit_sensor: the registry's events as observations on the `registry_entry` asset.

Promotions, approvals, reviews, rollbacks, archives, gate results, evals and rejected
candidates, whoever made them (this pipeline, `llmreg`, another service), become
`AssetObservation`s with the actor, stage, evidence and hash, so the asset's event history in
the UI is the release's audit timeline. The cursor is bound to the store (pipelines/cursors.py).
"""
from __future__ import annotations

import json
from typing import Any

import dagster as dg

from assets.resources import RegistryResource
from pipelines.cursors import read_cursor, store_identity, write_cursor

TIMELINE_TYPES = ("entry.registered", "eval.recorded", "review.recorded", "approval.granted", "approval.withdrawn",
                  "evidence.recorded", "gate.passed", "gate.failed", "stage.promoted", "stage.rolled_back",
                  "stage.archived", "action.refused", "checkpoint.recorded", "candidate.rejected")
_KEY_FIELDS = ("key_fingerprint", "fingerprint", "signer_fingerprint")


def _fingerprint(event) -> str | None:
    for source in (event.payload, event.evidence, event.payload.get("signature") or {}):
        if isinstance(source, dict):
            for key in _KEY_FIELDS:
                if source.get(key):
                    return str(source[key])
    return None


def observation(event) -> dg.AssetObservation:
    """One registry event as an observation of registry_entry."""
    payload: dict[str, Any] = dict(event.payload)
    report = payload.pop("report", None)
    metadata: dict[str, Any] = {
        "event": event.type,
        "seq": event.seq,
        "entry": event.ref or "",
        "version": event.version or "",
        "env": event.env or "",
        "actor": event.actor,
        "time": event.time,
        "hash": event.hash,
    }
    stage = payload.get("stage") or payload.get("to")
    if stage:
        metadata["stage"] = str(stage)
    if event.type in ("gate.failed", "gate.passed", "action.refused") and payload.get("detail"):
        metadata["detail"] = str(payload["detail"])
    fingerprint = _fingerprint(event)
    if fingerprint:
        metadata["approver_key_fingerprint"] = fingerprint
    if event.type == "candidate.rejected":  # a stopped candidate: what stopped it, and against what
        candidate, incumbent = payload.get("candidate") or {}, payload.get("incumbent") or {}
        metadata.update({"check": str(payload.get("check", "")), "detail": str(payload.get("detail", "")),
                         "candidate_digest": str(candidate.get("digest", "")),
                         "accuracy": (payload.get("scores") or {}).get("score"), "passed": False,
                         "incumbent_version": str(incumbent.get("version", "")),
                         "incumbent_score": incumbent.get("score")})
        report = (event.evidence or {}).get("report")
    if report:  # eval runs link to the suite and the dataset version they scored
        metadata.update({"eval_run": str(report.get("run_id", "")), "accuracy": report.get("accuracy"),
                         "passed": bool(report.get("passed")),
                         "dataset_version": str((report.get("dataset") or {}).get("version", ""))})
        if event.type == "candidate.rejected":
            metadata["passed"] = False  # the suite may have passed; a blocking check did not
    if payload:
        metadata["payload"] = dg.MetadataValue.json(json.loads(json.dumps(payload, default=str)))
    if event.evidence:
        metadata["evidence"] = dg.MetadataValue.json(json.loads(json.dumps(dict(event.evidence), default=str)))
    description = f"#{event.seq} {event.type} {event.ref or ''} by {event.actor}" + (f" ({stage})" if stage else "")
    return dg.AssetObservation(asset_key="registry_entry", metadata=metadata, description=description,
                               tags={"llmreg/event": event.type.replace(".", "-")})


@dg.sensor(minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.STOPPED,
           description="Records each new registry event (promotions, approvals, rollbacks, gate failures) "
                       "as an observation on registry_entry: its UI timeline is the audit trail.")
def registry_audit_sensor(context: dg.SensorEvaluationContext, registry: RegistryResource):
    reg = registry.open()
    identity = store_identity(reg)
    after, note = read_cursor(context.cursor, identity)
    if note:
        context.log.warning(note)
    events = list(reg.events(after=after, types=TIMELINE_TYPES))
    last = max([after, *(e.seq for e in events)])
    if events:
        context.log.info(f"{len(events)} registry event(s) after #{after}: "
                         + ", ".join(f"#{e.seq} {e.type}" for e in events[:20]))
    return dg.SensorResult(asset_events=[observation(e) for e in events], cursor=write_cursor(identity, last))
