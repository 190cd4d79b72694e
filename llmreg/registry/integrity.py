"""Every file a release tuple pins by checksum: hashed into the artifact store at
registration, re-hashed by the artifact_integrity gate and by `verify`."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Mapping

from llmreg.registry.artifacts import ArtifactCheck, ArtifactStore, is_url
from llmreg.registry.entry import ArtifactRef, Entry, EntrySpec
from llmreg.registry.errors import BadInput, IntegrityError, NotFound
from llmreg.registry.lifecycle import GateResult


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """Artifact re-hash results: `checks` pairs each entry ref with its artifact checks."""

    ok: bool
    checks: tuple[tuple[str, ArtifactCheck], ...]

    def failures(self) -> list[tuple[str, ArtifactCheck]]:
        return [(ref, check) for ref, check in self.checks if not check.ok]

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": [dict(check.to_dict(), entry=ref) for ref, check in self.checks]}


def verify_entries(artifacts: ArtifactStore, entries: list[Entry]) -> VerifyReport:
    checks = tuple((entry.ref, check) for entry in entries for check in check_artifacts(artifacts, entry))
    return VerifyReport(all(check.ok for _, check in checks), checks)


def pinned_files(spec: EntrySpec) -> list[tuple[str, ArtifactRef]]:
    """(field, ref) for every file the tuple pins by checksum: its artifacts, a checksummed
    model file and retrieval components given as {uri, sha256} (an index, an embedder, ...)."""
    refs = [(f"artifacts[{index}]", artifact) for index, artifact in enumerate(spec.artifacts)]
    model = spec.model
    if model.sha256 and model.uri:
        refs.append(("model", ArtifactRef(name="model", uri=model.uri, sha256=model.sha256, size=0, kind="weights")))
    for component, item in spec.retrieval.items():
        if isinstance(item, Mapping) and item.get("uri") and item.get("sha256"):
            refs.append((f"retrieval.{component}", ArtifactRef(name=f"retrieval.{component}", uri=item["uri"],
                                                               sha256=item["sha256"], size=0, kind="other")))
    return refs


def check_artifacts(artifacts: ArtifactStore, entry: Entry) -> list[ArtifactCheck]:
    return [artifacts.verify(ref, owner=entry.ref) for _, ref in pinned_files(entry.spec)]


def require_artifacts(artifacts: ArtifactStore, entry: Entry) -> None:
    for check in check_artifacts(artifacts, entry):
        if not check.ok:
            raise IntegrityError(check.detail)


def artifact_gate(artifacts: ArtifactStore, entry: Entry) -> GateResult:
    checks = check_artifacts(artifacts, entry)
    evidence = {"artifacts": [c.to_dict() for c in checks]}
    bad = [c for c in checks if not c.ok]
    if bad:
        return GateResult("artifact_integrity", False, "; ".join(c.detail for c in bad), evidence)
    if not checks:
        return GateResult("artifact_integrity", True, "no file artifacts to verify", evidence)
    return GateResult("artifact_integrity", True, f"{len(checks)} artifact(s) re-hashed, all match", evidence)


def ingest(artifacts: ArtifactStore, spec: EntrySpec, base_dir: str | None) -> None:
    """Hash every pinned file at registration (one streaming pass, copied into the store).

    Runs before the write transaction: slow I/O never holds the writer lock, and an
    object stored for a registration that then fails is harmless (content-addressed).
    """
    for where, ref in pinned_files(spec):
        if artifacts.contains(ref.sha256):
            continue
        if where == "model" and is_url(ref.uri):
            continue  # a remote model file is re-hashed at promotion, not downloaded here
        if is_url(ref.uri):
            stored = _put_url(ref.uri, ref, where)
        else:
            local = ref.uri[len("file://"):] if ref.uri.startswith("file://") else ref.uri
            if base_dir and not os.path.isabs(local):
                local = os.path.join(base_dir, local)
            if not os.path.exists(local):
                raise BadInput(f"{where}.uri: {ref.uri!r} does not exist (looked at {local}); point uri at the "
                               "file or directory to register", field=f"{where}.uri")
            stored = artifacts.put(local, ref.name, ref.kind)
        if stored.sha256 != ref.sha256:
            raise IntegrityError(f"artifact '{ref.name}' of {spec.name}: expected sha256 {ref.sha256}, "
                                 f"got {stored.sha256} ({ref.uri}); fix {where}.sha256 or the file")
        if where.startswith("artifacts[") and stored.size != ref.size:
            raise IntegrityError(f"artifact '{ref.name}' of {spec.name}: expected size {ref.size}, "
                                 f"got {stored.size} ({ref.uri}); fix {where}.size")


def _put_url(url: str, ref: ArtifactRef, where: str) -> ArtifactRef:
    """Remote artifacts are hashed where they are (not copied); the digest must match."""
    from llmreg.registry.artifacts import hash_location

    try:
        digest, size = hash_location(url)
    except (NotFound, OSError) as exc:
        raise BadInput(f"{where}.uri: cannot read {url!r} to checksum '{ref.name}' ({exc}); check the URL and "
                       "credentials", field=f"{where}.uri") from None
    return ArtifactRef(name=ref.name, uri=url, sha256=digest, size=size, kind=ref.kind)
