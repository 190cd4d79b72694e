"""Locate and verify the files a local backend loads: base model directory and adapter.

Nothing is loaded until its bytes hash to what the entry recorded. The check is the
registry's own (ArtifactStore.verify, or registry.artifacts.hash_location for the base
model), so the digest the gateway compares is the digest registration computed. A mismatch
refuses the load with one line naming the artifact, the expected and the actual digest.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from llmreg.registry.artifacts import hash_location
from llmreg.registry.entry import Entry
from llmreg.registry.errors import IntegrityError, NotFound

ADAPTER_KIND = "adapter"


@dataclass(frozen=True, slots=True)
class LocalModelFiles:
    base_dir: str
    adapter_dir: str | None
    adapter_name: str | None


def verified_files(entry: Entry, artifact_store: Any | None = None) -> LocalModelFiles:
    """Verify base model and adapter of `entry`; IntegrityError names the first mismatch."""
    model = entry.spec.model
    if not model.uri:
        raise NotFound(f"{entry.ref}: model {model.id!r} has no uri; set model.uri to the local model directory "
                       f"or configure an upstream for provider {model.provider!r} in the gateway config")
    if model.sha256:
        actual = _hash(model.uri, f"model of {entry.ref}")
        if actual != model.sha256:
            raise IntegrityError(f"model of {entry.ref}: expected sha256 {model.sha256}, got {actual} ({model.uri}); "
                                 "refusing to load a base model that differs from the registered one")
    adapters = [a for a in entry.spec.artifacts if a.kind == ADAPTER_KIND]
    if len(adapters) > 1:
        raise IntegrityError(f"{entry.ref}: {len(adapters)} adapter artifacts ({', '.join(a.name for a in adapters)}); "
                             "a local backend applies exactly one")
    if not adapters:
        return LocalModelFiles(model.uri, None, None)
    adapter = adapters[0]
    if artifact_store is not None:
        check = artifact_store.verify(adapter, owner=entry.ref)
        if not check.ok:
            raise IntegrityError(f"{check.detail}; refusing to load it")
        return LocalModelFiles(model.uri, check.location, adapter.name)
    actual = _hash(adapter.uri, f"artifact '{adapter.name}' of {entry.ref}")
    if actual != adapter.sha256:
        raise IntegrityError(f"artifact '{adapter.name}' of {entry.ref}: expected sha256 {adapter.sha256}, got {actual} "
                             f"({adapter.uri}); refusing to load it")
    return LocalModelFiles(model.uri, adapter.uri, adapter.name)


def _hash(location: str, what: str) -> str:
    try:
        return hash_location(location)[0]
    except (NotFound, OSError) as exc:
        raise IntegrityError(f"{what}: cannot read {location}: {exc}") from None
