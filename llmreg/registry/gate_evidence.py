"""Evidence a gate reads (e.g. canary SLO figures) and evidence attached to a promotion."""
from __future__ import annotations

from typing import Any, Mapping

from llmreg.registry.canonical import canonical_json
from llmreg.registry.errors import BadInput
from llmreg.registry.fields import as_number, as_token, freeze, thaw
from llmreg.registry.lifecycle import EVIDENCE_CANARY_SLO

_SLO_NUMBERS = {"error_rate": (0.0, 1.0), "p99_ms": (0.0, None), "calls": (0.0, None), "eval_score": (0.0, 1.0)}
_SLO_REQUIRED = ("error_rate", "p99_ms", "calls")


def normalise_evidence(kind: Any, data: Any) -> tuple[str, dict[str, Any]]:
    kind = as_token(kind, "kind", max_len=64)
    if not isinstance(data, Mapping):
        raise BadInput(f"data: evidence must be a mapping (key: value), got {type(data).__name__}", field="data")
    data = thaw(freeze(data, "data"))
    canonical_json(data)
    if kind == EVIDENCE_CANARY_SLO:
        for key in _SLO_REQUIRED:
            if key not in data:
                raise BadInput(f"data.{key}: canary_slo evidence needs {', '.join(_SLO_REQUIRED)} "
                               "(e.g. {error_rate: 0.004, p99_ms: 640, calls: 1200})", field=f"data.{key}")
        for key, (lo, hi) in _SLO_NUMBERS.items():
            if key in data:
                as_number(data[key], f"data.{key}", lo=lo, hi=hi)
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
