"""Evidence a gate reads (e.g. canary SLO figures) and evidence attached to a promotion.

canary_slo evidence is what takes a canary to production, so it must say where it was
measured, or nobody can check it against the gateway's call log:

    {error_rate: 0.004, p99_ms: 640, calls: 1200, instance: gw-eu-1,
     window: {start: "2026-06-10T09:00:00Z", end: "2026-06-10T10:00:00Z"}}

Only a member whose roles grant `record_slo` may record it (the SLO guard's key, roles.yaml).
"""
from __future__ import annotations

import datetime as _dt
from typing import Any, Mapping

from llmreg.registry.canonical import canonical_json
from llmreg.registry.errors import BadInput
from llmreg.registry.fields import as_int, as_number, as_token, freeze, show, thaw
from llmreg.registry.lifecycle import EVIDENCE_CANARY_SLO

_SLO_NUMBERS = {"error_rate": (0.0, 1.0), "p99_ms": (0.0, None), "calls": (0.0, None), "eval_score": (0.0, 1.0)}
_SLO_REQUIRED = ("error_rate", "p99_ms", "calls")
_SLO_EXAMPLE = ("{error_rate: 0.004, p99_ms: 640, calls: 1200, instance: gw-eu-1, "
                "window: {start: '2026-06-10T09:00:00Z', end: '2026-06-10T10:00:00Z'}}")


def check_slo_evidence(data: Mapping[str, Any]) -> None:
    """BadInput (one line naming the field) unless `data` holds the figures and says where they
    were measured: the gateway instance, the window (start <= end, ISO 8601) and the call count.
    The audit replays this on every recorded canary_slo."""
    for key in _SLO_REQUIRED:
        if key not in data:
            raise BadInput(f"data.{key}: canary_slo evidence needs {', '.join(_SLO_REQUIRED)}, instance and window "
                           f"(e.g. {_SLO_EXAMPLE})", field=f"data.{key}")
    for key, (lo, hi) in _SLO_NUMBERS.items():
        if key in data:
            as_number(data[key], f"data.{key}", lo=lo, hi=hi)
    as_int(data["calls"], "data.calls", lo=0)
    instance = data.get("instance")
    if not isinstance(instance, str) or not instance.strip():
        raise BadInput("data.instance: canary_slo evidence must name the gateway instance that measured it "
                       f"(e.g. instance: gw-eu-1); got {show(instance)}", field="data.instance")
    window = data.get("window")
    if not isinstance(window, Mapping):
        raise BadInput("data.window: canary_slo evidence must give the window it measured, {start, end} in ISO 8601 "
                       f"(e.g. window: {{start: '2026-06-10T09:00:00Z', end: '2026-06-10T10:00:00Z'}}); got {show(window)}",
                       field="data.window")
    moments = []
    for key in ("start", "end"):
        text = window.get(key)
        try:
            moment = _dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
        except ValueError:
            moment = None
        if not isinstance(text, str) or moment is None:
            raise BadInput(f"data.window.{key}: expected an ISO 8601 time such as 2026-06-10T09:00:00Z, got "
                           f"{show(text)}", field=f"data.window.{key}")
        moments.append(moment if moment.tzinfo else moment.replace(tzinfo=_dt.timezone.utc))
    if moments[0] > moments[1]:
        raise BadInput(f"data.window.end: {window['end']} is before data.window.start {window['start']}; give the "
                       "window in time order", field="data.window.end")


def normalise_evidence(kind: Any, data: Any) -> tuple[str, dict[str, Any]]:
    kind = as_token(kind, "kind", max_len=64)
    if not isinstance(data, Mapping):
        raise BadInput(f"data: evidence must be a mapping (key: value), got {type(data).__name__}", field="data")
    data = thaw(freeze(data, "data"))
    canonical_json(data)
    if kind == EVIDENCE_CANARY_SLO:
        check_slo_evidence(data)
    return kind, data


def split_promotion_evidence(evidence: Any) -> tuple[dict[str, Any], tuple[str, dict] | None]:
    """(attached, gate_evidence): a mapping with "kind" is also gate evidence {kind, data}."""
    if evidence is None:
        return {}, None
    if not isinstance(evidence, Mapping):
        raise BadInput(f"evidence: expected a mapping, got {type(evidence).__name__}", field="evidence")
    evidence = dict(evidence)
    if "kind" not in evidence:
        return thaw(freeze(evidence, "evidence")), None
    data = evidence.get("data")
    if data is None:
        data = {k: v for k, v in evidence.items() if k != "kind"}
    kind, data = normalise_evidence(evidence["kind"], data)
    return {"kind": kind, "data": data}, (kind, data)
