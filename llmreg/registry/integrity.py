"""The artifact checks the registry runs on stored entries: the artifact_integrity gate,
`verify`, and resolve's verify=True. Reading and storing pinned files at registration is
artifact_ingest.py's job; this module re-hashes what a version pins, every copy of it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from llmreg.registry.artifact_ingest import pinned_files, verify_copies
from llmreg.registry.artifacts import ArtifactCheck, ArtifactStore
from llmreg.registry.entry import Entry
from llmreg.registry.errors import IntegrityError
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


def check_artifacts(artifacts: ArtifactStore, entry: Entry) -> list[ArtifactCheck]:
    return [check for field, ref in pinned_files(entry.spec)
            for check in verify_copies(artifacts, ref, owner=entry.ref, field=field)]


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
