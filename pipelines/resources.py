"""Resources: where the project lives, which registry it writes to, as whom.

Environments pick their resources by name (`LLMREG_DEPLOYMENT`): the embedded default is a
SQLite registry under `.llmreg/`; a team points `LLMREG_STORE` at PostgreSQL.
"""
from __future__ import annotations

import os
from pathlib import Path

import dagster as dg


class ProjectResource(dg.ConfigurableResource):
    """The checkout the assets read params from and write data/models/metrics into."""

    root: str = "."
    params_path: str = "params.yaml"

    def path(self, relative: str | os.PathLike) -> Path:
        return Path(self.root).resolve() / relative

    @property
    def root_path(self) -> Path:
        return Path(self.root).resolve()

    @property
    def params_file(self) -> Path:
        return self.path(self.params_path)

    @property
    def registry_name(self) -> str:
        import yaml

        params = yaml.safe_load(self.params_file.read_text(encoding="utf-8")) or {}
        return (params.get("registry") or {}).get("name", "support-triage")


class RegistryResource(dg.ConfigurableResource):
    """The llm-registry store. `actor` is recorded on every event the pipeline writes."""

    url: str = ""
    artifacts: str = ""
    actor: str = "system:pipeline"

    def open(self):
        from llmreg.registry.api import Registry

        return Registry.open(self.url or None, artifacts=self.artifacts or None)


def default_resources() -> dict[str, dg.ConfigurableResource]:
    root = os.environ.get("LLMREG_PROJECT_ROOT", ".")
    return {
        "project": ProjectResource(root=root),
        "registry": RegistryResource(
            url=os.environ.get("LLMREG_STORE", ""),
            artifacts=os.environ.get("LLMREG_ARTIFACTS", ""),
        ),
    }
