"""The files a release tuple pins by checksum: read at every registration, checked per copy.

Registration (`ingest`) reads every pinned file every time, even when its digest is
already in the store: a local uri must exist and hash to the declared sha256 (and, for
`artifacts`, size); a remote (fsspec) uri is fetched and hashed, or refused in one line
when it cannot be read. New bytes are copied into the store through a private temporary
and published only when they match (ArtifactStore.put). Relative local uris resolve against
the entry file's folder (else the current one) and are recorded absolute, so a later
`verify` means the same thing from any folder.

Verification (`verify_copies`) checks each copy a loader may use: the store's copy and,
where the entry's uri is a local path elsewhere, that file too (the gateway loads the base
model from `model.uri`); each check says which copy it read.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Mapping

from llmreg.registry.artifacts import (
    ArtifactCheck,
    ArtifactStore,
    Expected,
    hash_location,
    hash_path,
    is_url,
)
from llmreg.registry.entry import ArtifactRef, EntrySpec
from llmreg.registry.errors import BadInput, NotFound, RegistryError

_HEX = frozenset("0123456789abcdef")


def pinned_files(spec: EntrySpec) -> list[tuple[str, ArtifactRef]]:
    """(field, ref) for every file the tuple pins by checksum: its artifacts, a checksummed
    model file and retrieval components given as {uri, sha256} (an index, an embedder, ...)."""
    refs = [(f"artifacts[{index}]", artifact) for index, artifact in enumerate(spec.artifacts)]
    model = spec.model
    if model.sha256 and model.uri:
        refs.append(("model", ArtifactRef(name="model", uri=model.uri, sha256=model.sha256, size=0, kind="weights")))
    if spec.tokenizer.get("uri"):  # its own checksummed component (release_parts.py)
        refs.append(("tokenizer", ArtifactRef(name="tokenizer", uri=spec.tokenizer["uri"],
                                              sha256=spec.tokenizer["sha256"], size=0, kind="tokenizer")))
    for component, item in spec.retrieval.items():
        if isinstance(item, Mapping) and item.get("uri") and item.get("sha256"):
            refs.append((f"retrieval.{component}", ArtifactRef(name=f"retrieval.{component}", uri=item["uri"],
                                                               sha256=item["sha256"], size=0, kind="other")))
    return refs


def _local(uri: str) -> str:
    return uri.removeprefix("file://")


def _absolute(uri: str | None, base_dir: str) -> str | None:
    if not uri or is_url(uri):
        return uri
    local = _local(uri)
    return uri if os.path.isabs(local) else os.path.normpath(os.path.join(base_dir, local))


def absolute_uris(spec: EntrySpec, base_dir: str | None) -> EntrySpec:
    """`spec` with every relative local uri joined to `base_dir` (default: the current folder)."""
    base = os.path.abspath(base_dir or os.getcwd())
    if all(_absolute(uri, base) == uri for uri in _local_uris(spec)):
        return spec  # the common case (uris recorded absolute): no copy of the tuple
    data = spec.to_dict()
    changed = False
    model = data["model"]
    if model.get("uri") and _absolute(model["uri"], base) != model["uri"]:
        model["uri"], changed = _absolute(model["uri"], base), True
    for artifact in data.get("artifacts", ()):
        if _absolute(artifact["uri"], base) != artifact["uri"]:
            artifact["uri"], changed = _absolute(artifact["uri"], base), True
    for item in [data.get("tokenizer") or {}, *data.get("retrieval", {}).values()]:
        if isinstance(item, dict) and item.get("uri") and _absolute(item["uri"], base) != item["uri"]:
            item["uri"], changed = _absolute(item["uri"], base), True
    return EntrySpec.from_dict(data) if changed else spec


def _local_uris(spec: EntrySpec):
    if spec.model.uri:
        yield spec.model.uri
    for artifact in spec.artifacts:
        yield artifact.uri
    for item in spec.retrieval.values():
        if isinstance(item, Mapping) and item.get("uri"):
            yield item["uri"]


def ingest(store: ArtifactStore, spec: EntrySpec, base_dir: str | None,
           checked: set[tuple[str, str, int | None]] | None = None) -> EntrySpec:
    """Check (and store) every pinned file of `spec`; returns the spec to record (absolute uris).

    Raises BadInput (a uri that does not exist or cannot be read, a symlink inside a
    directory artifact) or ContentMismatch, an IntegrityError (bytes that are not the
    declared ones); either way nothing of the refused bytes stays in the store.
    `checked`: (uri, sha256, size) already read and matched by this same command (a batch
    whose entries pin one adapter reads it once, not once per entry).
    """
    spec = absolute_uris(spec, base_dir)
    for field, ref in pinned_files(spec):
        seen = (ref.uri, ref.sha256, ref.size if field.startswith("artifacts[") else None)
        if checked is not None and seen in checked:
            continue
        _ingest_one(store, spec.name, field, ref)
        if checked is not None:
            checked.add(seen)
    return spec


def _ingest_one(store: ArtifactStore, owner: str, field: str, ref: ArtifactRef) -> None:
    label = f"artifact '{ref.name}' of {owner}"
    size = ref.size if field.startswith("artifacts[") else None
    expect = Expected(ref.sha256, size, label, ref.uri, field)
    if is_url(ref.uri):
        if field == "model":
            return  # a remote base model (gigabytes) is re-hashed by the promotion gate, not downloaded here
        expect.check(*_hash_remote(ref.uri, field, ref.name))
        return
    local = _local(ref.uri)
    def missing() -> BadInput:
        return BadInput(f"{field}.uri: {ref.uri!r} does not exist; point uri at the file or directory to register",
                        field=f"{field}.uri")
    if store.contains(ref.sha256):
        try:
            # the bytes are stored already: one open and one read pass, compare, copy nothing
            digest, total = hash_path(local)
        except NotFound:
            if not os.path.exists(local):
                raise missing() from None
            raise BadInput(f"{field}.uri: cannot read {ref.uri!r} (not a regular file or directory); check the "
                           "path", field=f"{field}.uri") from None
        except OSError as exc:
            raise BadInput(f"{field}.uri: cannot read {ref.uri!r} ({exc}); check the path and its permissions",
                           field=f"{field}.uri") from None
        expect.check(digest, total)
        return
    if not os.path.exists(local):
        raise missing()
    try:
        store.put(local, ref.name, ref.kind, sha256=ref.sha256, size=size, label=label, field=field)
    except OSError as exc:
        raise BadInput(f"{field}.uri: cannot read {ref.uri!r} ({exc}); check the path and its permissions",
                       field=f"{field}.uri") from None


def _hash_remote(url: str, field: str, name: str) -> tuple[str, int]:
    try:
        return hash_location(url)
    except BadInput:
        raise
    except Exception as exc:  # noqa: BLE001 - fsspec backends raise their own trees (aiohttp, botocore, ...)
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
        raise BadInput(f"{field}.uri: cannot read {url!r} to checksum '{name}' ({reason}); check the URL, the "
                       "network and the credentials", field=f"{field}.uri") from None


# ---------------------------------------------------------------------------- verification

def verify_copies(store: ArtifactStore, ref: ArtifactRef, *, owner: str, field: str) -> list[ArtifactCheck]:
    """Re-hash every copy of `ref` a loader may use; each check names its copy.

    The stored copy when the store holds the digest; the local file at `ref.uri` when that
    is another path (when missing: a failure for the model, which the gateway loads from
    model.uri, else nothing to check: the stored copy is what loaders use); the remote
    object when the uri is an fsspec URL and the store has no copy."""
    checks = []
    valid = isinstance(ref.sha256, str) and len(ref.sha256) == 64 and set(ref.sha256) <= _HEX
    stored = store.locate(ref.sha256) if valid else None
    if stored is not None:
        checks.append(_check(ref, owner, "stored", stored, lambda: store.hash_object(ref.sha256)))
    uri = ref.uri or ""
    if uri and not is_url(uri):
        local = _local(uri)
        elsewhere = stored is None or os.path.abspath(local) != os.path.abspath(stored)
        # A relative uri comes from an entry registered before uris were recorded absolute:
        # its folder is unknown, so with a stored copy to check it is not guessed from the cwd.
        guessed = not os.path.isabs(local) and stored is not None
        if elsewhere and not guessed and (os.path.lexists(local) or stored is None or field == "model"):
            checks.append(_check(ref, owner, "local", local, lambda: hash_path(local)))
    elif uri and stored is None:
        checks.append(_check(ref, owner, "remote", uri, lambda: hash_location(uri)))
    if not checks:
        checks.append(ArtifactCheck(ref.name, ref.sha256, None, None, False,
                                    f"artifact '{ref.name}' of {owner}: not in the artifact store and no uri recorded"))
    return checks


_COPY_NAMES = {"stored": "the stored copy", "local": "the local file", "remote": "the remote object"}


def _check(ref: ArtifactRef, owner: str, copy: str, location: str,
           read: Callable[[], tuple[str, int]]) -> ArtifactCheck:
    what = f"artifact '{ref.name}' of {owner}: {_COPY_NAMES[copy]} {location}"
    try:
        actual, _ = read()
    except (RegistryError, OSError, ValueError) as exc:
        reason = " ".join(str(exc).split())
        return ArtifactCheck(ref.name, ref.sha256, None, location, False, f"{what} cannot be read: {reason}", copy)
    except Exception as exc:  # noqa: BLE001 - a remote backend's own errors: reported, not raised
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
        return ArtifactCheck(ref.name, ref.sha256, None, location, False, f"{what} cannot be read: {reason}", copy)
    if actual != ref.sha256:
        return ArtifactCheck(ref.name, ref.sha256, actual, location, False,
                             f"artifact '{ref.name}' of {owner}: expected sha256 {ref.sha256}, got {actual} "
                             f"({_COPY_NAMES[copy]} {location} differs)", copy)
    return ArtifactCheck(ref.name, ref.sha256, actual, location, True, "ok", copy)
