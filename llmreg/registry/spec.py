"""The release tuple's value objects: what the registry versions, approves and rolls back.

An `EntrySpec` is everything that decides how the application behaves (pinned model,
prompt, params, tools, retrieval, policy, artifacts, data, training, eval, card, gates);
an `Entry` is a spec the registry accepted, with its version and provenance.

All objects are frozen and validate themselves on construction, whether they come from
YAML, JSON or Python: nested mappings become read-only copies, so a spec cannot change
after its digest is taken. `to_dict()` gives plain JSON types (omitting None and empty
fields, so adding an optional field never changes old digests) and `from_dict()` is its
exact inverse.

Floating aliases (``-latest``, branch names, unpinned provider models, ``prompt@latest``)
are refused at parse time: anything registered can reach production.

Reading entry documents (YAML/JSON files, imported histories) is entry.py's job.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .canonical import Encoded, canonical_digest, encode_object, sha256_hex, tree_text
from .fields import (
    EMPTY,
    as_int,
    as_key,
    as_mapping,
    as_number,
    as_sha256,
    as_str,
    as_token,
    check_keys,
    check_path_safe,
    fail,
    freeze,
    is_floating,
    show,
    thaw,
    type_name,
    under,
    validate_actor,
)
from .gates_config import validate_entry_gates
from .model_ref import REF_RE, ModelRef, check_ref, model_from_shorthand  # noqa: F401 - REF_RE, check_ref re-exported
from .patterns import lazy_re
from .release_parts import RELEASE_PARTS
from .semver import parse_version

NAME_RE = lazy_re(r"^[a-z0-9][a-z0-9._-]{0,99}$")
TIMESTAMP_RE = lazy_re(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")

ARTIFACT_KINDS = ("adapter", "weights", "index", "policy", "acoustic-model", "tokenizer", "other")
ENTRY_BUMPS = ("initial", "major", "minor", "patch", "override", "import")
REGISTRY_ASSIGNED = ("version", "status", "approved_by")


def _empty_map() -> Mapping[str, Any]:
    return EMPTY


def _set(obj: object, name: str, value: Any) -> None:
    object.__setattr__(obj, name, value)


def _str_map(value: Any, field_name: str, *, floating_ok: bool = True) -> Mapping[str, str]:
    if value is EMPTY:
        return EMPTY
    out = {}
    for key, item in as_mapping(value, field_name).items():
        as_key(key, field_name)
        text = as_token(item, f"{field_name}.{key}", max_len=256)
        if not floating_ok and is_floating(text):
            fail(f"{field_name}.{key}", f"{text!r} is a moving name, not a version; pin the immutable id (a content hash or commit id)")
        out[key] = text
    return MappingProxyType(out)


def _score_map(value: Any, field_name: str, *, lo: float | None, hi: float | None) -> Mapping[str, float]:
    if value is EMPTY:
        return EMPTY
    out = {}
    for key, item in as_mapping(value, field_name).items():
        if not isinstance(key, str) or not key.strip():
            fail(field_name, f"key {show(key)} is not a non-empty string; quote it")
        out[key] = as_number(item, f"{field_name}.{key}", lo=lo, hi=hi)
    return MappingProxyType(out)


# ---------------------------------------------------------------------------- artifacts, eval


@dataclass(frozen=True, slots=True)
class ArtifactRef:
    """A file the tuple depends on (adapter, weights, index, ...), content-addressed by SHA-256."""

    name: str
    uri: str
    sha256: str
    size: int
    kind: str = "other"

    def __post_init__(self) -> None:
        name = as_str(self.name, "name", max_len=200)
        check_path_safe(name, "name", relative_name=True)
        uri = as_str(self.uri, "uri", max_len=2000)
        check_path_safe(uri, "uri", relative_name=False)
        sha256 = as_sha256(self.sha256, "sha256")
        size = as_int(self.size, "size", lo=0)
        kind = as_str(self.kind, "kind", max_len=64)
        if kind not in ARTIFACT_KINDS:
            fail("kind", f"{kind!r} is not an artifact kind; use one of {', '.join(ARTIFACT_KINDS)}")
        for key, value in (("name", name), ("uri", uri), ("sha256", sha256), ("size", size), ("kind", kind)):
            _set(self, key, value)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "uri": self.uri, "sha256": self.sha256, "size": self.size, "kind": self.kind}

    @classmethod
    def from_dict(cls, data: Any) -> "ArtifactRef":
        if isinstance(data, ArtifactRef):
            return data
        if not isinstance(data, Mapping):
            fail("", f"expected a mapping {{name, uri, sha256, size, kind}}, got {type_name(data)} {show(data)}")
        check_keys(data, ("name", "uri", "sha256", "size", "kind"), required=("name", "uri", "sha256", "size"))
        return cls(**data)


@dataclass(frozen=True, slots=True)
class EvalRef:
    """The evaluation that certified the tuple: suite, overall score in [0, 1], per-segment scores."""

    suite: str
    suite_version: str | None = None
    score: float = None  # type: ignore[assignment]  # required: checked below (contract field order)
    segments: Mapping[str, float] = field(default_factory=_empty_map)
    run: str = None  # type: ignore[assignment]  # required: checked below
    time: str | None = None
    threshold: float | None = None
    metrics: Mapping[str, float] = field(default_factory=_empty_map)

    def __post_init__(self) -> None:
        _set(self, "suite", as_token(self.suite, "suite", max_len=200))
        _set(self, "score", as_number(self.score, "score", lo=0.0, hi=1.0))
        _set(self, "run", as_token(self.run, "run", max_len=200))
        _set(self, "suite_version", as_token(self.suite_version, "suite_version", optional=True, max_len=128))
        _set(self, "segments", _score_map(self.segments, "segments", lo=0.0, hi=1.0))
        _set(self, "time", as_token(self.time, "time", optional=True, max_len=64))
        _set(self, "threshold", as_number(self.threshold, "threshold", lo=0.0, hi=1.0, optional=True))
        _set(self, "metrics", _score_map(self.metrics, "metrics", lo=None, hi=None))

    def __hash__(self) -> int:
        return hash(canonical_digest(self.to_dict()))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"suite": self.suite, "score": self.score, "run": self.run}
        if self.suite_version is not None:
            out["suite_version"] = self.suite_version
        if self.segments:
            out["segments"] = dict(self.segments)
        if self.time is not None:
            out["time"] = self.time
        if self.threshold is not None:
            out["threshold"] = self.threshold
        if self.metrics:
            out["metrics"] = dict(self.metrics)
        return out

    @classmethod
    def from_dict(cls, data: Any) -> "EvalRef":
        if isinstance(data, EvalRef):
            return data
        if not isinstance(data, Mapping):
            fail("", f"expected a mapping {{suite, score, run, ...}}, got {type_name(data)} {show(data)}")
        check_keys(data, ("suite", "suite_version", "score", "segments", "run", "time", "threshold", "metrics"), required=("suite", "score", "run"))
        return cls(**data)

    @property
    def segment_gap(self) -> float | None:
        """max - min of the segment scores (None with fewer than two segments)."""
        if len(self.segments) < 2:
            return None
        values = self.segments.values()
        return max(values) - min(values)


# ---------------------------------------------------------------------------- the spec

_SPEC_FIELDS = (
    "name", "model", "prompt_ref", "prompt_sha256", "params", "tools_ref", "retrieval", "policy_ref",
    "artifacts", "datasets", "training", "eval", "owner", "framework", "description", "card",
    "lineage", "gates", "labels", "runtime", "dependencies", "tokenizer", "decoding", "serving",
)
_JSON_MAPPINGS = ("params", "training", "card", "lineage", "serving")


@dataclass(frozen=True, slots=True)
class EntrySpec:
    """The release tuple as the user writes it (everything but the registry-assigned fields)."""

    name: str
    model: ModelRef
    prompt_ref: str | None = None
    prompt_sha256: str | None = None
    params: Mapping[str, Any] = field(default_factory=_empty_map)
    tools_ref: str | None = None
    retrieval: Mapping[str, Any] = field(default_factory=_empty_map)
    policy_ref: str | None = None
    artifacts: tuple[ArtifactRef, ...] = ()
    datasets: Mapping[str, str] = field(default_factory=_empty_map)
    training: Mapping[str, Any] = field(default_factory=_empty_map)
    eval: EvalRef | None = None
    owner: str | None = None
    framework: str | None = None
    description: str | None = None
    card: Mapping[str, Any] = field(default_factory=_empty_map)
    lineage: Mapping[str, Any] = field(default_factory=_empty_map)
    gates: Mapping[str, Any] = field(default_factory=_empty_map)
    labels: Mapping[str, str] = field(default_factory=_empty_map)
    runtime: Mapping[str, Any] = field(default_factory=_empty_map)  # release_parts.py: serving configuration,
    dependencies: Mapping[str, Any] = field(default_factory=_empty_map)  # library lock digest and summary,
    tokenizer: Mapping[str, Any] = field(default_factory=_empty_map)  # tokenizer (checksummed),
    decoding: Mapping[str, Any] = field(default_factory=_empty_map)  # decoding strategy
    serving: Mapping[str, Any] = field(default_factory=_empty_map)  # who may override what (registry/generation.py)
    _digest: str | None = field(default=None, init=False, repr=False, compare=False)
    _plain: dict[str, Any] | None = field(default=None, init=False, repr=False, compare=False)
    _texts: dict[str, str] | None = field(default=None, init=False, repr=False, compare=False)
    _text: str | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        name = as_str(self.name, "name", max_len=100)
        if not NAME_RE.match(name):
            fail("name", f"{name!r} must match ^[a-z0-9][a-z0-9._-]{{0,99}}$ (lowercase letters, digits, '.', '_', '-'); e.g. 'support-triage'")
        _set(self, "name", name)
        model = self.model
        if isinstance(model, str):
            model = model_from_shorthand(model)  # its errors already name "model"
        elif not isinstance(model, ModelRef):
            if model is None:
                fail("model", "missing; give a pinned model id or a mapping {provider, id, ...}")
            with under("model"):
                model = ModelRef.from_dict(model)
        _set(self, "model", model)
        for ref_field in ("prompt_ref", "tools_ref", "policy_ref"):
            _set(self, ref_field, check_ref(getattr(self, ref_field), ref_field))
        _set(self, "prompt_sha256", as_sha256(self.prompt_sha256, "prompt_sha256", optional=True))
        for json_field in _JSON_MAPPINGS:
            _set(self, json_field, freeze(as_mapping(getattr(self, json_field), json_field), json_field))
        _set(self, "retrieval", _check_retrieval(self.retrieval))
        _set(self, "artifacts", _check_artifacts(self.artifacts))
        _set(self, "datasets", _str_map(self.datasets, "datasets", floating_ok=False))
        if self.eval is not None:
            with under("eval"):
                _set(self, "eval", EvalRef.from_dict(self.eval))
        _set(self, "owner", as_str(self.owner, "owner", optional=True, max_len=200))
        _set(self, "framework", as_str(self.framework, "framework", optional=True, max_len=200))
        _set(self, "description", as_str(self.description, "description", optional=True, max_len=20_000, allow_control=True))
        gates = as_mapping(self.gates, "gates")
        if gates:
            _set(self, "gates", freeze(validate_entry_gates(gates), "gates"))
        else:
            _set(self, "gates", EMPTY)
        _set(self, "labels", _str_map(self.labels, "labels"))
        for part, check in RELEASE_PARTS.items():
            _set(self, part, check(getattr(self, part)))
        if self.serving:
            from .generation import check_serving_section

            check_serving_section(self.serving, self.params)

    def __hash__(self) -> int:
        return hash(self.digest)

    @property
    def digest(self) -> str:
        """sha256 hex of canonical_json(to_dict()): the identity of the tuple."""
        value = self._digest
        if value is None:
            value = sha256_hex(self.canonical_text().encode("utf-8"))
            _set(self, "_digest", value)
        return value

    def field_texts(self) -> dict[str, str]:
        """Each top-level field of `shared_dict()` as its canonical JSON text, computed once
        (READ-ONLY). The digest is assembled from them and the diff compares them, so an
        unchanged field costs one string comparison instead of a walk."""
        value = self._texts
        if value is None:
            value = {key: tree_text(value) for key, value in self.shared_dict().items()}
            _set(self, "_texts", value)
        return value

    def canonical_text(self) -> str:
        """canonical_json(to_dict()) as text, computed once."""
        value = self._text
        if value is None:
            value = encode_object(self.field_texts())
            _set(self, "_text", value)
        return value

    def shared_dict(self) -> dict[str, Any]:
        """`to_dict()` computed once and shared: READ-ONLY. Digest and diff read it on every
        registration; anything that may change the result must call `to_dict()` instead."""
        value = self._plain
        if value is None:
            value = self.to_dict()
            _set(self, "_plain", value)
        return value

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "model": self.model.to_dict()}
        for name in _SPEC_FIELDS[2:]:
            value = getattr(self, name)
            if not value:  # None or an empty mapping/tuple (strings are never empty here)
                continue
            if value.__class__ is str:
                out[name] = value
            elif name == "artifacts":
                out[name] = [artifact.to_dict() for artifact in value]
            elif name == "eval":
                out[name] = value.to_dict()
            else:
                out[name] = thaw(value)
        return out

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "<input>") -> "EntrySpec":
        """Build from the dict form (or the seed shorthand); BadInput names the field and the fix."""
        if isinstance(data, EntrySpec):
            return data
        with under(source, file=True):
            if not isinstance(data, Mapping):
                fail("entry", f"expected a mapping of entry fields (name, model, ...), got {type_name(data)}")
            for key in REGISTRY_ASSIGNED:
                if key in data:
                    fail(key, f"field {key!r} is assigned by the registry; remove it (or use parse_entry(..., import_history=True))")
            check_keys(data, _SPEC_FIELDS, required=("name", "model"))
            return cls(**data)



def _check_retrieval(value: Any) -> Mapping[str, Any]:
    if value is EMPTY:
        return EMPTY
    out: dict[str, Any] = {}
    for component, item in as_mapping(value, "retrieval").items():
        as_key(component, "retrieval")
        where = f"retrieval.{component}"
        if isinstance(item, str):
            out[component] = check_ref(item, where)
            continue
        if not isinstance(item, Mapping):
            fail(where, f"expected 'name@version' or a mapping {{ref, sha256, uri}}, got {type_name(item)} {show(item)}")
        check_keys(item, ("ref", "sha256", "uri"), where=where)
        pinned = {}
        if item.get("ref") is not None:
            pinned["ref"] = check_ref(item["ref"], f"{where}.ref")
        if item.get("sha256") is not None:
            pinned["sha256"] = as_sha256(item["sha256"], f"{where}.sha256")
        if item.get("uri") is not None:
            pinned["uri"] = check_path_safe(as_str(item["uri"], f"{where}.uri", max_len=2000), f"{where}.uri", relative_name=False)
        if "ref" not in pinned and "sha256" not in pinned:
            fail(where, "is not pinned; give ref: 'name@version' or sha256 of the index")
        out[component] = MappingProxyType(pinned)
    return MappingProxyType(out) if out else EMPTY


def _check_artifacts(value: Any) -> tuple[ArtifactRef, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        fail("artifacts", f"expected a list of {{name, uri, sha256, size, kind}}, got {type_name(value)} {show(value)}")
    out = []
    seen: dict[str, int] = {}
    for i, item in enumerate(value):
        with under(f"artifacts[{i}]"):
            artifact = ArtifactRef.from_dict(item)
        if artifact.name in seen:
            fail(f"artifacts[{i}].name", f"{artifact.name!r} is already used by artifacts[{seen[artifact.name]}]; artifact names must be unique")
        seen[artifact.name] = i
        out.append(artifact)
    return tuple(out)


# ---------------------------------------------------------------------------- the entry


def _real_time(text: str) -> bool:
    if text in _REAL_TIMES:  # every entry of a batch shares its transaction's time
        return True
    import datetime as dt

    try:
        dt.datetime.fromisoformat(text[:-1])
    except ValueError:
        return False
    if len(_REAL_TIMES) >= 256:
        _REAL_TIMES.clear()
    _REAL_TIMES.add(text)
    return True


_REAL_TIMES: set[str] = set()


def utc_timestamp(moment: Any = None) -> str:
    """UTC ISO-8601 with 'Z' (microseconds kept): the format of Entry.created_at."""
    import datetime as dt

    moment = moment or dt.datetime.now(dt.timezone.utc)
    if moment.tzinfo is None:
        raise ValueError("utc_timestamp needs an aware datetime (naive times are ambiguous)")
    return moment.astimezone(dt.timezone.utc).replace(tzinfo=None).isoformat() + "Z"


def bump_summary(bump: Any, reason: Any) -> str:
    """'minor: prompt_ref changed' for display: the kind once (a diff's reason already starts with it)."""
    bump, reason = str(bump or ""), str(reason or "")
    if not reason or not bump or reason.startswith(f"{bump}:"):
        return reason or bump
    return f"{bump}: {reason}"


@dataclass(frozen=True, slots=True)
class Entry:
    """A registered spec: immutable, identified by name@version."""

    spec: EntrySpec
    version: str
    author: str
    created_at: str
    seq: int
    bump: str
    bump_reason: str
    previous: str | None = None

    def __post_init__(self) -> None:
        spec = self.spec
        if not isinstance(spec, EntrySpec):
            with under("spec"):
                spec = EntrySpec.from_dict(spec)
        _set(self, "spec", spec)
        parse_version(self.version, "version")
        validate_actor(self.author, "author")
        if not isinstance(self.created_at, str) or not TIMESTAMP_RE.match(self.created_at) or not _real_time(self.created_at):
            fail("created_at", f"{show(self.created_at)} is not UTC ISO-8601 'YYYY-MM-DDTHH:MM:SS[.ffffff]Z'; use entry.utc_timestamp()")
        _set(self, "seq", as_int(self.seq, "seq", lo=0))
        if self.bump not in ENTRY_BUMPS:
            fail("bump", f"{show(self.bump)} is not one of {', '.join(ENTRY_BUMPS)}")
        if not isinstance(self.bump_reason, str):
            fail("bump_reason", f"expected a string, got {type_name(self.bump_reason)}")
        if self.previous is not None:
            parse_version(self.previous, "previous")

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def ref(self) -> str:
        return f"{self.spec.name}@{self.version}"

    @property
    def bump_summary(self) -> str:
        return bump_summary(self.bump, self.bump_reason)

    def to_dict(self) -> dict[str, Any]:
        return self._with_spec(self.spec.to_dict())

    def encoded(self) -> Encoded:
        """`to_dict()` with its canonical text, reusing the spec's text instead of encoding
        the tuple again. READ-ONLY: its "spec" shares the spec's cached dict."""
        return Encoded.of(self._with_spec(Encoded(self.spec.shared_dict(), self.spec.canonical_text())))

    def _with_spec(self, spec: dict[str, Any]) -> dict[str, Any]:
        out = {
            "spec": spec,
            "version": self.version,
            "author": self.author,
            "created_at": self.created_at,
            "seq": self.seq,
            "bump": self.bump,
            "bump_reason": self.bump_reason,
        }
        if self.previous is not None:
            out["previous"] = self.previous
        return out

    @classmethod
    def from_dict(cls, data: Any) -> "Entry":
        if not isinstance(data, Mapping):
            fail("entry", f"expected a mapping, got {type_name(data)}")
        check_keys(data, ("spec", "version", "author", "created_at", "seq", "bump", "bump_reason", "previous"),
                   required=("spec", "version", "author", "created_at", "seq", "bump", "bump_reason"))
        return cls(**data)
