"""Entry documents: an entry read from YAML/JSON text, a mapping or a file, and the
registry-assigned fields (version, status, approved_by) an imported history may carry.

The value objects themselves (EntrySpec, Entry, ModelRef, ArtifactRef, EvalRef) live in
spec.py and model_ref.py and are re-exported here, the name callers know.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from .errors import BadInput
from .fields import fail, show, type_name, under, validate_actor
from .model_ref import HF_PROVIDERS, KNOWN_PROVIDERS, ModelRef
from .semver import coerce_version
from .spec import (
    ARTIFACT_KINDS, ENTRY_BUMPS, NAME_RE, REF_RE, TIMESTAMP_RE, ArtifactRef, Entry, EntrySpec, EvalRef,
    bump_summary, check_ref, utc_timestamp,
)

__all__ = [
    "ARTIFACT_KINDS", "ENTRY_BUMPS", "HF_PROVIDERS", "KNOWN_PROVIDERS", "NAME_RE", "REF_RE", "REGISTRY_ASSIGNED",
    "TIMESTAMP_RE", "ArtifactRef", "Entry", "EntrySpec", "EvalRef", "ModelRef", "bump_summary", "check_ref",
    "load_entry_file", "parse_entry", "utc_timestamp",
]

REGISTRY_ASSIGNED = ("version", "status", "approved_by")


def parse_entry(data: Any, *, source: str = "<input>", import_history: bool = False) -> tuple[EntrySpec, dict[str, Any]]:
    """Parse an entry (YAML/JSON text, a mapping, a path or an EntrySpec).

    Returns (spec, registry_fields). The registry assigns version, status and approved_by;
    finding them is an error unless import_history=True (an audited import of an existing
    history), in which case they come back normalised: version as X.Y.Z, status as a
    lifecycle status, approved_by as a tuple of actor names.
    """
    if isinstance(data, EntrySpec):
        return data, {}
    if isinstance(data, os.PathLike):
        return load_entry_file(data, import_history=import_history)
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadInput(f"{source}: not UTF-8 text (byte {exc.start}); save the file as UTF-8", field="encoding") from None
    if isinstance(data, str):
        from .documents import load_document  # parsing only: the read path never loads these

        data = load_document(data, source=source)
    if data is None:
        raise BadInput(f"{source}: the entry is empty; write at least name: and model:", field="entry")
    if not isinstance(data, Mapping):
        raise BadInput(f"{source}: expected a mapping of entry fields (name, model, ...), got {type_name(data)}", field="entry")
    fields = dict(data)
    assigned: dict[str, Any] = {}
    for key in list(fields):
        if key in REGISTRY_ASSIGNED:
            if not import_history:
                where = source if source != "<input>" else "the entry"
                raise BadInput(
                    f"field {key!r} is assigned by the registry; remove it from {where} "
                    "(or use --import-history to import an existing history, which is audited)",
                    field=key,
                )
            assigned[key] = fields.pop(key)
    spec = EntrySpec.from_dict(fields, source=source)
    with under(source, file=True):
        return spec, _normalise_assigned(assigned)


def _normalise_assigned(assigned: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "version" in assigned:
        out["version"] = coerce_version(assigned["version"], "version")
    if "status" in assigned:
        from .lifecycle import normalise_status

        out["status"] = normalise_status(assigned["status"], "status")
    if "approved_by" in assigned:
        value = assigned["approved_by"]
        names = [value] if isinstance(value, str) else value
        if not isinstance(names, (list, tuple)) or not names:
            fail("approved_by", f"expected an actor name or a list of them, got {type_name(value)} {show(value)}")
        out["approved_by"] = tuple(validate_actor(name, f"approved_by[{i}]") for i, name in enumerate(names))
    return out


def load_entry_file(path: str | os.PathLike[str], import_history: bool = False) -> tuple[EntrySpec, dict[str, Any]]:
    """Read an entry from a .yaml/.yml/.json file."""
    source = os.fspath(path)
    from .documents import read_document

    return parse_entry(read_document(source, "entry"), source=source, import_history=import_history)


def __getattr__(name: str) -> Any:
    """The document readers, once imported from here, load on first use (start-up of read verbs)."""
    if name in ("load_document", "read_document"):
        from . import documents

        return getattr(documents, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
