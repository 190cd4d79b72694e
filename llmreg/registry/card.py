"""Model cards: Markdown with YAML front matter in the Hugging Face model card convention.

The front matter (license, library_name, base_model, tags, model-index with the eval
results) is machine-readable; the body has the sections the registry standard asks for:
intended use, limitations, evaluation overall and by segment, fairness (gap vs bound),
training data, owner and escalation contact, lineage, approvals and history. A field the
entry does not document is shown as such, with the entry key that would fill it, so gaps
are visible in review instead of silently missing.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from .fields import thaw

TYPE_CHECKING = False  # the idiom that keeps `typing` out of run-time imports
if TYPE_CHECKING:
    from typing import Any

    from .entry import Entry
    from .gates_config import GatesConfig


_HISTORY_KEYS = ("stage", "decision", "kind", "from", "to", "weight", "notes", "suite", "score")


def _get(item: Any, key: str, default: Any = None) -> Any:
    if isinstance(item, Mapping):
        return item.get(key, default)
    return getattr(item, key, default)


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return " ".join(text.split()).replace("|", "\\|")


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return lines


def _missing(key: str) -> str:
    return f"_Not documented: add `card.{key}` to the entry._"


def _text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "\n".join(f"- {item}" for item in value)
    if isinstance(value, Mapping):
        return "\n".join(f"- **{k}**: {v}" for k, v in value.items())
    return str(value)


def recorded_eval(payload: Any) -> Mapping[str, Any]:
    """The eval an eval.recorded event carries, in EvalRef form when the store normalised it.

    The store writes {"report": <as the caller gave it>, "eval": <EvalRef dict>}; the raw
    report may be another shape (evals/run.py: accuracy, segment_scores, suite as a mapping),
    so "eval" comes first, then "report", then a bare payload (older or hand-built events).
    """
    if not isinstance(payload, Mapping):
        return {}
    for key in ("eval", "report"):
        if isinstance(payload.get(key), Mapping):
            return payload[key]
    return payload


def _evals(entry: "Entry", history: Sequence[Any]) -> list[dict[str, Any]]:
    """The entry's own eval, then eval.recorded reports for this version in log order."""
    out = []
    if entry.spec.eval is not None:
        out.append({**entry.spec.eval.to_dict(), "source": "entry"})
    for event in history:
        if _get(event, "type") != "eval.recorded" or _get(event, "version") not in (None, entry.version):
            continue
        report = recorded_eval(_get(event, "payload"))
        score = report.get("score")
        if isinstance(score, (int, float)) and not isinstance(score, bool) and isinstance(report.get("suite"), str):
            out.append({**thaw(report), "source": f"eval record seq {_get(event, 'seq')}"})
    return out


def _library(entry: "Entry") -> str:
    spec = entry.spec
    if any(a.kind == "adapter" for a in spec.artifacts):
        return "peft"
    if spec.model.provider in ("hf", "huggingface", "local"):
        return "transformers"
    return spec.framework or spec.model.provider


def render_card(
    entry: "Entry",
    *,
    statuses: Mapping[str, str],
    history: Sequence[Any],
    gates: "GatesConfig | None" = None,
    fairness_bound: "tuple[float, str] | None" = None,
    approval_policy: str | None = None,
) -> str:
    """The model card of one version. statuses: {env: status}; history: events (mappings or objects).

    fairness_bound: (bound, source) as the fairness gate resolves it (the registry knows the
    suite's own bound); default: the entry's gates, else `gates`. approval_policy: the
    production approval policy in force for the name, as the gate states it.
    """
    import yaml  # only when a card is rendered

    from .gates_config import GatesConfig

    spec, card = entry.spec, thaw(entry.spec.card)
    gates = gates or GatesConfig()
    evals = _evals(entry, history)
    current = evals[-1] if evals else None

    tags = ["llm-registry", f"provider:{spec.model.provider}"] + [f"{k}:{v}" for k, v in spec.labels.items()]
    tags += [str(t) for t in card.get("tags", []) if isinstance(card.get("tags"), list)]
    results = []
    for ev in evals:
        metrics = [{"type": "score", "name": "overall", "value": ev["score"]}]
        metrics += [{"type": "score", "name": f"segment:{k}", "value": v} for k, v in (ev.get("segments") or {}).items()]
        metrics += [{"type": k, "name": k, "value": v} for k, v in (ev.get("metrics") or {}).items()]
        dataset = {"name": ev.get("suite"), "type": ev.get("suite")}
        if ev.get("suite_version"):
            dataset["revision"] = ev["suite_version"]
        results.append({"task": {"type": card.get("task", "text-generation")}, "dataset": dataset, "metrics": metrics, "source": {"name": f"{ev['source']}, run {ev.get('run')}"}})
    front: dict[str, Any] = {"license": card.get("license", "other"), "library_name": _library(entry)}
    if spec.model.provider in ("hf", "huggingface"):
        front["base_model"] = spec.model.id
    front["tags"] = list(dict.fromkeys(tags))
    if results:
        front["model-index"] = [{"name": spec.name, "results": results}]
    front["llm_registry"] = {
        "name": spec.name,
        "version": entry.version,
        "digest": spec.digest,
        "author": entry.author,
        "created_at": entry.created_at,
        "model": spec.model.to_dict(),
        "statuses": dict(statuses),
    }

    out = ["---", yaml.safe_dump(front, sort_keys=False, allow_unicode=True, width=1000).rstrip(), "---", ""]
    out.append(f"# {spec.name} {entry.version}")
    out.append("")
    where = ", ".join(f"{env}: {status}" for env, status in statuses.items()) or "not promoted anywhere"
    out.append(f"Registered by {entry.author} on {entry.created_at} ({entry.bump_summary}). Status: {where}. Digest `{spec.digest}`.")
    if entry.bump == "import":
        out.append("")
        out.append("**Imported history**: this version and its status were imported from a file; it was not "
                   "evaluated, reviewed or approved through this registry's gates.")
    if spec.description:
        out += ["", spec.description]

    out += ["", "## Intended use", ""]
    out.append(_text(card["intended_use"]) if card.get("intended_use") else _missing("intended_use"))
    if card.get("target_users"):
        out += ["", f"Target users: {_text(card['target_users'])}"]
    out += ["", "## Limitations", ""]
    out.append(_text(card["limitations"]) if card.get("limitations") else _missing("limitations"))
    if card.get("failure_modes"):
        out += ["", "Known failure modes:", "", _text(card["failure_modes"])]

    out += ["", "## Evaluation", ""]
    if current is None:
        out.append("_No evaluation recorded: add `eval:` to the entry or record an eval report._")
    else:
        out += _table(["Suite", "Version", "Run", "Score", "Threshold", "Source"], [[e.get("suite"), e.get("suite_version"), e.get("run"), e.get("score"), e.get("threshold"), e["source"]] for e in evals])
        segments = current.get("segments") or {}
        out += ["", f"By segment ({current['source']}, run {current.get('run')}):" if segments else "_No per-segment scores: add `eval.segments` to assess fairness._", ""]
        if segments:
            out += _table(["Segment", "Score"], [[k, v] for k, v in segments.items()])
        current_metrics = current.get("metrics") or {}
        if current_metrics:
            out += ["", *_table(["Metric", "Value"], [[k, v] for k, v in current_metrics.items()])]

    out += ["", "## Fairness", ""]
    bound, source = fairness_bound or gates.fairness_bound(spec.gates)
    segments = (current or {}).get("segments") or {}
    if len(segments) >= 2:
        low = min(segments, key=segments.__getitem__)
        high = max(segments, key=segments.__getitem__)
        gap = segments[high] - segments[low]
        verdict = "within" if gap <= bound + 1e-9 else "EXCEEDS"
        out.append(f"Largest segment gap {gap:.3f} ({low} {segments[low]:g} vs {high} {segments[high]:g}): {verdict} the bound {bound:g} ({source}).")
    else:
        out.append(f"Not assessed: fewer than two segment scores. The bound is {bound:g} ({source}).")
    if card.get("fairness"):
        out += ["", _text(card["fairness"])]

    out += ["", "## Training data", ""]
    if spec.datasets:
        out += _table(["Role", "Dataset version"], [[role, version] for role, version in spec.datasets.items()])
        out.append("")
    summary = card.get("training_data")
    out.append(_text(summary) if summary else _missing("training_data") + " (source, size, date range)")
    if spec.training:
        seed = spec.training.get("seed")
        out += ["", f"Training config: seed {seed if seed is not None else 'not recorded'}; {len(spec.training)} settings recorded in the entry."]

    out += ["", "## Owner and escalation contact", ""]
    out.append(f"Owner: {spec.owner or _missing('owner').replace('card.owner', 'owner')}")
    out.append("")
    out.append(f"Escalation contact: {card['contact']}" if card.get("contact") else f"Escalation contact: {_missing('contact')}")

    out += ["", "## Lineage", ""]
    model = spec.model
    pin = f"revision {model.revision}" if model.revision else f"snapshot {model.snapshot}" if model.snapshot else f"sha256 {model.sha256}"
    out.append(f"- Base model: {model.provider} `{model.id}` ({pin})")
    for label, ref in (("Prompt", spec.prompt_ref), ("Tools", spec.tools_ref), ("Policy", spec.policy_ref)):
        if ref:
            out.append(f"- {label}: `{ref}`")
    for component, value in spec.retrieval.items():
        out.append(f"- Retrieval {component}: `{value if isinstance(value, str) else value.get('ref') or value.get('sha256')}`")
    for key, value in spec.lineage.items():
        out.append(f"- {key}: `{value}`")
    if spec.artifacts:
        out += ["", *_table(["Artifact", "Kind", "SHA-256", "Size (bytes)"], [[a.name, a.kind, a.sha256, a.size] for a in spec.artifacts])]

    out += _serving(spec)
    out += _drills(history)

    out += ["", "## Approvals / history", ""]
    approvers = [_get(e, "actor") for e in history if _get(e, "type") == "approval.granted"]
    reviewers = [_get(e, "actor") for e in history if _get(e, "type") == "review.recorded" and (_get(e, "payload") or {}).get("decision") == "approve"]
    out.append(f"Reviewed by: {', '.join(dict.fromkeys(reviewers)) or 'nobody yet'}. Approved by: {', '.join(dict.fromkeys(approvers)) or 'nobody yet'}.")
    if approval_policy:
        out.append(f"Production approval policy in force: {approval_policy}.")
    if history:
        rows = []
        for event in history:
            payload = _get(event, "payload") or {}
            if _get(event, "type") == "eval.recorded":
                payload = recorded_eval(payload)
            detail = "; ".join(f"{k}={payload[k]}" for k in _HISTORY_KEYS if isinstance(payload, Mapping) and payload.get(k) is not None)
            if _get(event, "type") == "stage.rolled_back" and isinstance(payload, Mapping):
                # One event type, two meanings: a pulled canary is not a production restore.
                replaced = f" (replacing {payload['from']})" if payload.get("from") else ""
                what = "pulled from canary" if payload.get("stage") == "canary" else f"restored to production{replaced}"
                detail = "; ".join(part for part in (what, f"reason={payload['reason']}" if payload.get("reason") else "") if part)
            if _get(event, "type") == "rollback.drill" and isinstance(payload, Mapping):
                detail = f"drill {payload.get('current')} -> {payload.get('target')}: {'ok' if payload.get('ok') else 'FAILED'}"
            if _get(event, "type") == "version.flagged" and isinstance(payload, Mapping):
                detail = f"drift, {payload.get('action')}: {'; '.join(map(str, payload.get('reasons') or ()))}"
            rows.append([_get(event, "seq"), _get(event, "time"), _get(event, "actor"), _get(event, "type"), _get(event, "env"), detail])
        out += ["", *_table(["Seq", "Time", "Actor", "Event", "Env", "Detail"], rows)]
    return "\n".join(out) + "\n"


def _drills(history: Sequence[Any]) -> list[str]:
    """Rollback drills that targeted this version (handlers/drill.py): when, from where, each check."""
    drills = [e for e in history if _get(e, "type") == "rollback.drill"]
    if not drills:
        return []
    rows = []
    for event in drills:
        p = _get(event, "payload") or {}
        failed = [f"{c.get('name')}: {c.get('detail')}" for c in p.get("checks") or () if not c.get("ok")]
        checks = ", ".join(str(c.get("name")) for c in p.get("checks") or ())
        rows.append([_get(event, "time"), _get(event, "env"), f"{p.get('current')} -> {p.get('target')}",
                     "ok" if p.get("ok") else "FAILED", "; ".join(failed) or p.get("reason") if not p.get("ok") else checks])
    return ["", "## Rollback drills", "", *_table(["Time", "Env", "Rollback", "Result", "Checks / failures"], rows)]


def _serving(spec: Any) -> list[str]:
    """The rest of the tuple (release_parts.py): serving configuration, decoding, tokenizer, library lock."""
    from .release_parts import describe_runtime

    rows = []
    if spec.runtime:
        rows.append(["Serving configuration", describe_runtime(spec.runtime)])
    if spec.decoding:
        extra = ", ".join(f"{k}={v}" for k, v in spec.decoding.items() if k != "strategy")
        rows.append(["Decoding", f"{spec.decoding['strategy']}" + (f" ({extra})" if extra else "")])
    if spec.tokenizer:
        tok = spec.tokenizer
        rows.append(["Tokenizer", (f"{tok['ref']} " if tok.get("ref") else "") + f"`{tok['sha256']}`"])
    if spec.dependencies:
        deps = spec.dependencies
        summary = ", ".join(f"{k} {v}" for k, v in (deps.get("summary") or {}).items())
        rows.append(["Dependencies", f"{deps.get('lock') or 'lock'} `{deps['sha256']}`" + (f": {summary}" if summary else "")])
    if not rows:
        return []
    return ["", "## Serving configuration", "", *_table(["Part", "Pinned"], rows)]
