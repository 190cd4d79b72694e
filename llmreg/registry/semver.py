"""Semantic versions bumped from the tuple diff.

MAJOR: the base model (any sub-field), framework, model.architecture — a different system.
MINOR: prompt, datasets, retrieval, tools, policy, artifacts, training — retraining or revision.
PATCH: params, gates, eval, card, owner, description, lineage, labels, serving — configuration.

The rest of the tuple (release_parts.py): the tokenizer and, inside the serving
configuration and the decoding strategy, `runtime.quantization`, `runtime.dtype` and
`decoding.strategy` alter what the model says: MINOR, also when the section they sit in is
added or removed. Everything else there (hardware, batching, max length, tensor parallelism,
other decoding settings) and the dependency lock ("a dependency update is a patch"): PATCH.

One exception, for all content-pinned parts (model, artifacts, retrieval components): a
changed `uri` whose sha256 is set and unchanged is a relocation of identical bytes, so a patch.
The highest level among the changes wins.
"""
from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from .canonical import canonical_json
from .errors import BadInput, Conflict
from .patterns import lazy_re

TYPE_CHECKING = False  # the idiom that keeps `typing` out of run-time imports
if TYPE_CHECKING:
    from typing import Any

    from .spec import EntrySpec


LEVELS = ("patch", "minor", "major")  # ascending
_RANK = {level: rank for rank, level in enumerate(LEVELS)}

FIELD_LEVELS: Mapping[str, str] = {
    "name": "major",
    "model": "major",
    "framework": "major",
    "prompt_ref": "minor",
    "prompt_sha256": "minor",
    "datasets": "minor",
    "retrieval": "minor",
    "tools_ref": "minor",
    "policy_ref": "minor",
    "artifacts": "minor",
    "training": "minor",
    "params": "patch",
    "gates": "patch",
    "eval": "patch",
    "card": "patch",
    "owner": "patch",
    "description": "patch",
    "lineage": "patch",
    "labels": "patch",
    "tokenizer": "minor",
    "runtime": "patch",
    "dependencies": "patch",
    "decoding": "patch",
    "serving": "patch",  # who may override what at the gateway (registry/generation.py)
}
# Sub-fields ranked above their section's level (release_parts.py).
SUBFIELD_LEVELS: Mapping[tuple[str, str], str] = {
    ("runtime", "quantization"): "minor",
    ("runtime", "dtype"): "minor",
    ("decoding", "strategy"): "minor",
}

_VERSION_RE = lazy_re(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
_LOOSE_RE = lazy_re(r"^v?(0|[1-9]\d*)(?:\.(0|[1-9]\d*))?(?:\.(0|[1-9]\d*))?$")
# X.Y.Z followed by a semver.org pre-release (-rc.1) and/or build (+build.5) part.
_QUALIFIED_RE = lazy_re(r"^v?\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+(?:\+[0-9A-Za-z.-]+)?|\+[0-9A-Za-z.-]+)$")
# Each part is stored as a 32-bit SQL integer (entries.vmajor/vminor/vpatch).
PART_LIMIT = 2**31  # parts run 0 .. 2**31-1
_PART_DIGITS = len(str(PART_LIMIT - 1))
_MISSING = object()


@dataclass(frozen=True, slots=True)
class Change:
    path: str  # dotted, e.g. "params.max_tokens", "retrieval.index.sha256", "artifacts.adapter.sha256"
    old: Any  # plain JSON value, None when added
    new: Any  # plain JSON value, None when removed
    level: str  # "major" | "minor" | "patch"

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "old": self.old, "new": self.new, "level": self.level}


@dataclass(frozen=True, slots=True)
class Diff:
    changes: tuple[Change, ...]
    bump: str | None  # highest level among changes; None when identical or for a first version

    @property
    def identical(self) -> bool:
        return not self.changes

    def to_dict(self) -> dict[str, Any]:
        return {"bump": self.bump, "changes": [change.to_dict() for change in self.changes]}

    def reason(self) -> str:
        """One line for Entry.bump_reason: the level and the paths that decided it."""
        if not self.changes:
            return "no changes"
        if self.bump is None:
            return "first version"
        deciding = [c.path for c in self.changes if c.level == self.bump]
        shown = ", ".join(deciding[:5]) + (f" and {len(deciding) - 5} more" if len(deciding) > 5 else "")
        return f"{self.bump}: {shown} changed"


def _too_long(text: str) -> bool:
    return len(text) > 3 * (_PART_DIGITS + 1) + 8


def parse_version(text: Any, field: str = "version") -> tuple[int, int, int]:
    """'1.4.0' -> (1, 4, 0); anything but plain X.Y.Z, each part below 2**31, is BadInput.

    Pre-release and build parts ('1.0.0-rc.1+build.5') are refused on purpose: a version
    here is what the lifecycle moves between stages (development and staging are the
    pre-releases), and plain X.Y.Z keeps one ordering for the store, the CLI and the API."""
    if text.__class__ is str:
        known = _PARSED.get(text)
        if known is not None:
            return known
    if not isinstance(text, str) or _too_long(text) or not _VERSION_RE.match(text):
        if isinstance(text, str) and not _too_long(text) and _QUALIFIED_RE.match(text):
            raise BadInput(f"{field}: {text!r} has a pre-release or build part; llm-registry versions are plain "
                           "X.Y.Z (pre-releases are not supported: register the candidate as its own version and "
                           "let the stages say it is not released yet)", field=field)
        raise BadInput(f"{field}: {show_version(text)} is not a semantic version X.Y.Z (e.g. '1.4.0')", field=field)
    parts = _parts(text.split("."), text, field)
    if len(_PARSED) >= 4096:  # bounded: a long-lived writer sees ever new versions
        _PARSED.clear()
    _PARSED[text] = parts
    return parts


# Valid versions already parsed (a registration parses the same few several times).
_PARSED: dict[str, tuple[int, int, int]] = {}


def show_version(text: Any) -> str:
    """repr() for messages, cut short: a version of thousands of digits stays one line."""
    shown = repr(text) if not isinstance(text, str) or len(text) <= 40 else repr(text[:30]) + f"... ({len(text)} chars)"
    return shown


def _parts(parts: list[str], text: str, field: str) -> tuple[int, int, int]:
    if any(len(part) > _PART_DIGITS or int(part) >= PART_LIMIT for part in parts):
        raise BadInput(f"{field}: {show_version(text)} has a part of 2**31 or more; each of major, minor and patch "
                       f"must be below {PART_LIMIT} (at most {PART_LIMIT - 1})", field=field)
    major, minor, patch = (int(part) for part in parts)
    return major, minor, patch


def format_version(parts: tuple[int, int, int]) -> str:
    return f"{parts[0]}.{parts[1]}.{parts[2]}"


def coerce_version(value: Any, field: str = "version") -> str:
    """For imported histories: 14 -> '14.0.0', '1.2' -> '1.2.0', 'v1.2.3' -> '1.2.3'."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise BadInput(f"{field}: {value!r} is not a version; write it as X.Y.Z (e.g. '14.0.0')", field=field)
    text = value.strip() if isinstance(value, str) else None
    if isinstance(value, int):
        if value >= PART_LIMIT or value < 0:
            raise BadInput(f"{field}: {value if value < 10**20 else 'a number of 20+ digits'} is not a version; a "
                           f"version part must be 0 .. {PART_LIMIT - 1}", field=field)
        text = str(value)
    match = _LOOSE_RE.match(text) if not _too_long(text) else None
    if match is None:
        if not _too_long(text) and _QUALIFIED_RE.match(text):
            parse_version(text, field)  # says why a pre-release or build part is refused
        raise BadInput(f"{field}: {show_version(value)} is not a version; write it as X.Y.Z (e.g. '14.0.0')",
                       field=field)
    parts = [part or "0" for part in match.groups()]
    return format_version(_parts(parts, text, field))


def version_key(version: str) -> tuple[int, int, int]:
    """Sort key: sorted(versions, key=version_key)."""
    return parse_version(version)


def bump_version(version: str, level: str) -> str:
    major, minor, patch = parse_version(version)
    if level == "major":
        bumped = (major + 1, 0, 0)
    elif level == "minor":
        bumped = (major, minor + 1, 0)
    elif level == "patch":
        bumped = (major, minor, patch + 1)
    else:
        raise BadInput(f"bump: {level!r} is not major, minor or patch", field="bump")
    if max(bumped) >= PART_LIMIT:
        fix = ("no later version fits: register under a new name" if level == "major" else
               "bump a higher level (--bump major) or give an explicit --version")
        raise BadInput(f"version: a {level} bump of {version} would pass {PART_LIMIT - 1}, the largest a version part "
                       f"may be; {fix}", field="version")
    return format_version(bumped)


def next_version(previous: str | None, bump: str | None, override: str | None = None, existing: Collection[str] = ()) -> str:
    """The version a new registration gets.

    First version is 1.0.0. An override must be X.Y.Z, unused and above every existing
    version (versions only move forward; registered versions are immutable).
    """
    known = [parse_version(v, "existing version") for v in existing]
    if previous is not None:
        known.append(parse_version(previous, "previous"))
    top = max(known) if known else None
    if override is not None:
        wanted = parse_version(override, "version")
        if any(wanted == v for v in known):
            raise Conflict(f"version {override} already exists; registered versions are immutable, choose one above {format_version(top)}")  # type: ignore[arg-type]
        if top is not None and wanted < top:
            raise Conflict(f"version {override} is below the latest {format_version(top)}; versions only move forward, choose one above it")
        return override
    if top is None:
        return "1.0.0"
    if bump is None:
        raise Conflict(f"nothing changed since {format_version(top)}; nothing to register")
    if bump not in _RANK:
        raise BadInput(f"bump: {bump!r} is not major, minor or patch", field="bump")
    return bump_version(format_version(top), bump)


def refuse_identical(diff: Diff, *, name: str, latest: str) -> None:
    """Conflict when the new spec equals the latest version."""
    if diff.identical:
        raise Conflict(f"{name}: identical to {latest}; nothing to register")


# ---------------------------------------------------------------------------- diff


def _keyed(spec_dict: Mapping[str, Any]) -> dict[str, Any]:
    """The spec dict with artifacts keyed by name, so a diff names artifacts, not list positions."""
    out = dict(spec_dict)
    if "artifacts" in out:
        out["artifacts"] = {artifact["name"]: artifact for artifact in out["artifacts"]}
    return out


_PLAIN_PART = lazy_re(r"^[A-Za-z0-9_/:@-]+$")


def _show_path(parts: tuple[str, ...]) -> str:
    return ".".join(part if _PLAIN_PART.match(part) else '"' + part.replace('"', '\\"') + '"' for part in parts)


def _same(old: Any, new: Any) -> bool:
    """Equal as the digest sees them (1 != 1.0 != True, 0.0 != -0.0), without serialising:
    diff is on the registration path and canonical_json per subtree cost more than the SQL."""
    if isinstance(old, dict) and isinstance(new, dict):
        return old.keys() == new.keys() and all(_same(old[k], new[k]) for k in old)
    if isinstance(old, list) and isinstance(new, list):
        return len(old) == len(new) and all(map(_same, old, new))
    if type(old) is not type(new) or isinstance(old, (dict, list)):
        return False
    if type(old) is float:
        return old == new and math.copysign(1.0, old) == math.copysign(1.0, new)
    if isinstance(old, (str, int, bool, type(None))):
        return old == new
    return canonical_json(old) == canonical_json(new)  # anything unusual


def _walk(old: Any, new: Any, parts: tuple[str, ...], out: list[tuple[tuple[str, ...], Any, Any]]) -> None:
    # Compare as the digest sees values (1 != 1.0 != True), so "no change" means "same digest".
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in sorted(set(old) | set(new)):
            before, after = old.get(key, _MISSING), new.get(key, _MISSING)
            if before is not _MISSING and after is not _MISSING and _same(before, after):
                continue
            _walk(before, after, parts + (key,), out)
        return
    out.append((parts, None if old is _MISSING else old, None if new is _MISSING else new))


def _relocated(parts: tuple[str, ...], old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """A uri change under a part whose sha256 is pinned and unchanged."""
    if parts[-1] != "uri" or len(parts) < 2:
        return False
    owner_old, owner_new = old, new
    for part in parts[:-1]:
        owner_old = owner_old.get(part) if isinstance(owner_old, Mapping) else None
        owner_new = owner_new.get(part) if isinstance(owner_new, Mapping) else None
    if not isinstance(owner_old, Mapping) or not isinstance(owner_new, Mapping):
        return False
    return owner_old.get("sha256") is not None and owner_old.get("sha256") == owner_new.get("sha256")


def classify(parts: tuple[str, ...], old: Mapping[str, Any] | None = None, new: Mapping[str, Any] | None = None) -> str:
    """The level of a change at `parts` (a path into the spec dict)."""
    level = FIELD_LEVELS.get(parts[0], "patch")
    if old is not None and new is not None and _relocated(parts, old, new):
        return "patch"
    if len(parts) > 1:
        sub = SUBFIELD_LEVELS.get((parts[0], parts[1]))
    else:  # a whole section added, removed or replaced: ranked by the sub-fields it carries
        held = set()
        for side in (old, new):
            value = side.get(parts[0]) if isinstance(side, Mapping) else None
            held |= set(value) if isinstance(value, Mapping) else set()
        sub = max((SUBFIELD_LEVELS[(parts[0], k)] for k in held if (parts[0], k) in SUBFIELD_LEVELS),
                  key=_RANK.__getitem__, default=None)
    return max(level, sub, key=_RANK.__getitem__) if sub else level


def diff_specs(old: "EntrySpec | None", new: "EntrySpec") -> Diff:
    """Field-by-field diff; bump is the highest level changed (None: identical or first version)."""
    new_dict = new.shared_dict()
    if old is None:
        changes = tuple(Change(key, None, value, FIELD_LEVELS.get(key, "patch")) for key, value in _keyed(new_dict).items())
        return Diff(changes, None)
    # Equal canonical text is equal digest input: an unchanged field costs one string
    # compare, and only the fields that changed are keyed and walked.
    old_texts, new_texts = old.field_texts(), new.field_texts()
    changed = sorted(key for key in old_texts.keys() | new_texts.keys() if old_texts.get(key) != new_texts.get(key))
    old_dict = _keyed({key: old.shared_dict()[key] for key in changed if key in old_texts})
    new_dict = _keyed({key: new_dict[key] for key in changed if key in new_texts})
    found: list[tuple[tuple[str, ...], Any, Any]] = []
    for key in changed:
        _walk(old_dict.get(key, _MISSING), new_dict.get(key, _MISSING), (key,), found)
    changes = tuple(Change(_show_path(parts), before, after, classify(parts, old_dict, new_dict)) for parts, before, after in found)
    bump = max((c.level for c in changes), key=_RANK.__getitem__) if changes else None
    return Diff(changes, bump)
