"""The lineage graph of one registered version, for audits: where every part came from.

dataset versions -> base model -> training run -> adapter/artifacts -> eval run -> entry
-> promotions (stage.promoted / stage.rolled_back / stage.archived events for this version).
Prompt, tools, policy and retrieval refs feed the entry directly. Exports: JSON, Mermaid
(`flowchart LR`) and Graphviz DOT; all three are deterministic for the same input.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .canonical import canonical_digest
from .card import recorded_eval
from .fields import EMPTY, freeze, thaw

TYPE_CHECKING = False  # the idiom that keeps `typing` out of run-time imports
if TYPE_CHECKING:
    from typing import Any

    from .entry import Entry


PROMOTION_EVENTS = {"stage.promoted": "promoted", "stage.rolled_back": "rolled back", "stage.archived": "archived"}
EVAL_EVENT = "eval.recorded"
TRAINED_KINDS = ("adapter", "weights", "tokenizer", "acoustic-model")
EVAL_ROLES = ("eval", "test", "validation", "holdout")


@dataclass(frozen=True, slots=True)
class Node:
    id: str
    kind: str  # dataset | base_model | training_run | <artifact kind> | prompt | tools | policy | retrieval | eval | entry | promotion
    label: str
    attrs: Mapping[str, Any] = field(default_factory=lambda: EMPTY)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "label": self.label, "attrs": thaw(self.attrs)}


@dataclass(frozen=True, slots=True)
class Edge:
    src: str
    dst: str
    label: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"src": self.src, "dst": self.dst, "label": self.label}


@dataclass(frozen=True, slots=True)
class Lineage:
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]

    def node(self, node_id: str) -> Node:
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(node_id)

    def to_dict(self) -> dict[str, Any]:
        return {"nodes": [n.to_dict() for n in self.nodes], "edges": [e.to_dict() for e in self.edges]}


def _get(event: Any, key: str, default: Any = None) -> Any:
    """Events may be mappings or objects with attributes (the store's Event)."""
    if isinstance(event, Mapping):
        return event.get(key, default)
    return getattr(event, key, default)


class _Builder:
    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}
        self.edges: dict[tuple[str, str], Edge] = {}

    def node(self, node_id: str, kind: str, label: str, attrs: Mapping[str, Any] | None = None) -> str:
        if node_id not in self.nodes:
            clean = {k: v for k, v in (attrs or {}).items() if v is not None}
            self.nodes[node_id] = Node(node_id, kind, label, freeze(clean, node_id) if clean else EMPTY)
        return node_id

    def edge(self, src: str, dst: str, label: str) -> None:
        self.edges.setdefault((src, dst), Edge(src, dst, label))

    def build(self) -> Lineage:
        return Lineage(tuple(self.nodes.values()), tuple(self.edges.values()))


def build_lineage(entry: "Entry", events: Sequence[Any] = ()) -> Lineage:
    spec = entry.spec
    g = _Builder()
    lineage = spec.lineage

    model = spec.model
    pin = model.revision or model.snapshot or (model.sha256[:12] if model.sha256 else None)
    model_id = f"model:{model.provider}:{model.id}" + (f"@{pin}" if pin and pin != model.id else "")
    base = g.node(model_id, "base_model", f"base model\n{model.provider}:{model.request_id}" + (f"@{model.revision[:12]}" if model.revision else ""), model.to_dict())

    datasets = {role: g.node(f"dataset:{role}:{version}", "dataset", f"{role} data\n{version}", {"role": role, "version": version}) for role, version in spec.datasets.items()}
    train_sets = [node for role, node in datasets.items() if role not in EVAL_ROLES]
    eval_sets = [node for role, node in datasets.items() if role in EVAL_ROLES]

    training = None
    if spec.training or lineage.get("training_run"):
        run = str(lineage.get("training_run") or "config-" + canonical_digest(thaw(spec.training))[:12])
        attrs = {"run": run, "seed": spec.training.get("seed"), "git_commit": lineage.get("git_commit"), "dvc_lock_sha256": lineage.get("dvc_lock_sha256"), "config": spec.training or None}
        training = g.node(f"training:{run}", "training_run", f"training run\n{run}", attrs)
        g.edge(base, training, "fine-tunes")
        for node in train_sets:
            g.edge(node, training, "trains")

    artifacts: list[str] = []
    for artifact in spec.artifacts:
        node = g.node(f"artifact:{artifact.name}@{artifact.sha256[:12]}", artifact.kind, f"{artifact.kind}\n{artifact.name}\nsha256 {artifact.sha256[:12]}", artifact.to_dict())
        artifacts.append(node)
        if training is not None and artifact.kind in TRAINED_KINDS:
            g.edge(training, node, "produces")

    entry_node = g.node(f"entry:{entry.ref}", "entry", f"{entry.ref}\n{'imported by' if entry.bump == 'import' else 'by'} {entry.author}",
                        {"version": entry.version, "digest": spec.digest, "author": entry.author, "created_at": entry.created_at,
                         "imported": entry.bump == "import"})

    evals: list[tuple[str, str, Any, dict[str, Any]]] = []
    if spec.eval is not None:
        evals.append((spec.eval.suite, spec.eval.run, spec.eval.score, spec.eval.to_dict()))
    for event in events:
        if _get(event, "type") == EVAL_EVENT and _get(event, "name") == spec.name and _get(event, "version") == entry.version:
            report = recorded_eval(_get(event, "payload"))
            if isinstance(report.get("suite"), str) and report["suite"]:
                evals.append((report["suite"], str(report.get("run") or f"seq-{_get(event, 'seq')}"), report.get("score"), {k: report.get(k) for k in ("suite", "suite_version", "score", "run")}))
    for suite, run, score, attrs in evals:
        shown = f"\nscore {score:g}" if isinstance(score, (int, float)) and not isinstance(score, bool) else ""
        node = g.node(f"eval:{suite}:{run}", "eval", f"eval {suite}\nrun {run}{shown}", attrs)
        g.edge(base, node, "evaluated")
        for artifact_node in artifacts:
            g.edge(artifact_node, node, "evaluated")
        for dataset in eval_sets:
            g.edge(dataset, node, "evaluated on")
        g.edge(node, entry_node, "certifies")
    if not evals:
        for dataset in eval_sets:
            g.edge(dataset, entry_node, "evaluated on")
    if training is None:
        for dataset in train_sets:
            g.edge(dataset, entry_node, "uses")

    g.edge(base, entry_node, "base model")
    for artifact_node in artifacts:
        g.edge(artifact_node, entry_node, "packaged in")
    for kind, ref in (("prompt", spec.prompt_ref), ("tools", spec.tools_ref), ("policy", spec.policy_ref)):
        if ref:
            g.edge(g.node(f"{kind}:{ref}", kind, f"{kind}\n{ref}", {"ref": ref}), entry_node, kind)
    for component, value in spec.retrieval.items():
        pinned = value if isinstance(value, str) else value.get("ref") or f"sha256 {value['sha256'][:12]}"
        attrs = {"ref": value} if isinstance(value, str) else dict(value)
        g.edge(g.node(f"retrieval:{component}:{pinned}", "retrieval", f"retrieval {component}\n{pinned}", attrs), entry_node, "retrieval")

    _release_parts(g, spec, entry_node)

    previous = entry_node
    for event in sorted(events, key=lambda e: (_get(e, "seq") if isinstance(_get(e, "seq"), int) else -1)):
        kind = _get(event, "type")
        if kind not in PROMOTION_EVENTS or _get(event, "name") != spec.name:
            continue
        payload = _get(event, "payload") or {}
        payload = payload if isinstance(payload, Mapping) else {}
        if entry.version not in (_get(event, "version"), payload.get("to"), payload.get("from")):
            continue
        seq, env = _get(event, "seq"), _get(event, "env")
        stage = payload.get("stage") or payload.get("to_stage") or ("archived" if kind == "stage.archived" else "production")
        action, headline = _stage_action(kind, stage, env, payload, entry.version, _get(event, "version"))
        label = f"{headline}\n{_get(event, 'time')} by {_get(event, 'actor')}"
        attrs = {"seq": seq, "type": kind, "action": action, "env": env, "stage": stage, "actor": _get(event, "actor"), "time": _get(event, "time"), "reason": payload.get("reason") or None}
        node = g.node(f"event:{seq}", "promotion", label, attrs)
        g.edge(previous, node, action)
        previous = node  # promotions chain in log order
    return g.build()


def _release_parts(g: _Builder, spec: Any, entry_node: str) -> None:
    """Tokenizer, library lock and serving configuration (with the decoding strategy) feed the entry."""
    from .release_parts import describe_runtime

    if spec.tokenizer:
        tok = spec.tokenizer
        label = f"tokenizer\n{tok.get('ref') or ''}\nsha256 {tok['sha256'][:12]}".replace("\n\n", "\n")
        g.edge(g.node(f"tokenizer:{tok['sha256'][:12]}", "tokenizer", label, dict(tok)), entry_node, "tokenizer")
    if spec.dependencies:
        deps = spec.dependencies
        label = f"dependencies\n{deps.get('lock') or 'lock'} sha256 {deps['sha256'][:12]}"
        g.edge(g.node(f"dependencies:{deps['sha256'][:12]}", "dependencies", label, thaw(deps)), entry_node, "runs with")
    if spec.runtime or spec.decoding:
        text = describe_runtime(spec.runtime) if spec.runtime else "default serving"
        if spec.decoding:
            text += f"\ndecoding {spec.decoding['strategy']}"
        attrs = {"runtime": thaw(spec.runtime) or None, "decoding": thaw(spec.decoding) or None}
        node_id = "runtime:" + canonical_digest(attrs)[:12]
        g.edge(g.node(node_id, "runtime", f"serving config\n{text}", attrs), entry_node, "served with")


def _stage_action(kind: str, stage: str, env: Any, payload: Mapping[str, Any], version: str, event_version: Any) -> tuple[str, str]:
    """(edge label, node headline): what a stage event did to *this* version.

    stage.rolled_back means two things: with payload.stage "canary" the canary was pulled
    (back to development, nothing replaces it); otherwise the event's version was restored
    to production and payload.from is the version it replaced.
    """
    if kind != "stage.rolled_back":
        return PROMOTION_EVENTS[kind], f"{PROMOTION_EVENTS[kind]}: {stage} in {env}"
    if stage == "canary":
        return "pulled from canary", f"pulled from canary in {env}"
    if payload.get("from") == version and event_version != version:
        return "rolled back", f"rolled back out of production in {env} (restored {event_version})"
    replaced = f", replacing {payload['from']}" if payload.get("from") else ""
    return "rolled back", f"restored to production in {env} by rollback{replaced}"


# ---------------------------------------------------------------------------- exports


def to_json(lineage: Lineage) -> str:
    return json.dumps(lineage.to_dict(), indent=2, sort_keys=True, ensure_ascii=False)


_MERMAID_SHAPES = {"dataset": ('[("', '")]'), "entry": ('[["', '"]]'), "promotion": ('(["', '"])'), "eval": ('{{"', '"}}')}
_MERMAID_CLASSES = {
    "dataset": "fill:#e8f1fb,stroke:#3b73b9",
    "base_model": "fill:#fdf0e6,stroke:#c9782c",
    "training_run": "fill:#f3ecfa,stroke:#7d4cb3",
    "eval": "fill:#e9f7ec,stroke:#2f8f46",
    "entry": "fill:#fff8d6,stroke:#a88600,stroke-width:2px",
    "promotion": "fill:#f2f2f2,stroke:#666",
}


def _mermaid_text(text: str) -> str:
    return text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;").replace("\n", "<br/>")


def to_mermaid(lineage: Lineage) -> str:
    ids = {node.id: f"n{i}" for i, node in enumerate(lineage.nodes)}
    lines = ["flowchart LR"]
    for node in lineage.nodes:
        left, right = _MERMAID_SHAPES.get(node.kind, ('["', '"]'))
        lines.append(f"  %% {ids[node.id]} = {node.id.replace(chr(10), ' ')}")
        lines.append(f"  {ids[node.id]}{left}{_mermaid_text(node.label)}{right}")
    for edge in lineage.edges:
        label = f'|"{_mermaid_text(edge.label)}"|' if edge.label else ""
        lines.append(f"  {ids[edge.src]} -->{label} {ids[edge.dst]}")
    for kind, style in _MERMAID_CLASSES.items():
        members = [ids[n.id] for n in lineage.nodes if n.kind == kind]
        if members:
            lines.append(f"  classDef {kind.replace('_', '-')} {style}")
            lines.append(f"  class {','.join(members)} {kind.replace('_', '-')}")
    return "\n".join(lines) + "\n"


_DOT_SHAPES = {"dataset": "cylinder", "base_model": "box3d", "training_run": "component", "eval": "hexagon", "entry": "doubleoctagon", "promotion": "cds"}


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(lineage: Lineage) -> str:
    lines = ["digraph lineage {", "  rankdir=LR;", '  node [shape=box, fontname="Helvetica", fontsize=10];', '  edge [fontname="Helvetica", fontsize=9];']
    for node in lineage.nodes:
        shape = _DOT_SHAPES.get(node.kind, "box")
        lines.append(f"  {_dot_quote(node.id)} [label={_dot_quote(node.label)}, shape={shape}, tooltip={_dot_quote(node.kind)}];")
    for edge in lineage.edges:
        attrs = f" [label={_dot_quote(edge.label)}]" if edge.label else ""
        lines.append(f"  {_dot_quote(edge.src)} -> {_dot_quote(edge.dst)}{attrs};")
    lines.append("}")
    return "\n".join(lines) + "\n"
