"""Resources: the checkout the assets work in, the registry they write to, the providers file.

Each external system sits behind a `ConfigurableResource`. The registry resource opens one
`Registry` per run (or sensor tick) and closes it in teardown. Deployment-specific values
(a PostgreSQL URL with its password, an artifact bucket) come in as `dg.EnvVar`, so they
are read when a run starts and never shown as values in the UI; nothing here reads the
environment at import time.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
from pydantic import PrivateAttr

if TYPE_CHECKING:
    from llmreg.registry.api import Registry

QUALIFICATION_ACTOR = "system:provider-qualification"


class ProjectResource(dg.ConfigurableResource):
    """The checkout the steps read params, prompts and suites from and write outputs into."""

    root: str = "."
    params_path: str = "params.yaml"

    @property
    def root_path(self) -> Path:
        return Path(self.root).resolve()

    def path(self, relative: str | os.PathLike) -> Path:
        return self.root_path / relative

    @property
    def params_file(self) -> Path:
        return self.path(self.params_path)


class RegistryResource(dg.ConfigurableResource):
    """The llm-registry store. `actor` is recorded on every event the pipeline writes.

    `url` empty means the embedded default (`.llmreg/registry.db`); `open()` returns the one
    registry of this run or tick, closed by teardown.
    """

    url: str = ""
    artifacts: str = ""
    actor: str = "system:pipeline"
    _registry: Any = PrivateAttr(default=None)

    def open(self) -> Registry:
        if self._registry is None:
            from llmreg.registry.api import Registry

            self._registry = Registry.open(self.url or None, artifacts=self.artifacts or None)
        return self._registry

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self.close()

    def close(self) -> None:
        if self._registry is not None:
            self._registry.close()
            self._registry = None


class ProvidersResource(dg.ConfigurableResource):
    """Where providers.yaml is (relative paths resolve against the project root)."""

    path: str = "providers.yaml"
    actor: str = QUALIFICATION_ACTOR

    def load(self, project: ProjectResource):
        from evals.providers import load_providers

        path = Path(self.path)
        return load_providers(path if path.is_absolute() else project.path(path))


def _value(env: Mapping[str, str], name: str, default: str) -> Any:
    """`dg.EnvVar(name)` where the deployment sets it (read at run start), else the default."""
    return dg.EnvVar(name) if env.get(name) else default


def deployment_resources(env: Mapping[str, str]) -> dict[str, dg.ConfigurableResource]:
    """The embedded default, with each value the deployment sets taken from its variable:
    LLMREG_PROJECT_ROOT, LLMREG_STORE (PostgreSQL for teams), LLMREG_ARTIFACTS, LLMREG_PROVIDERS."""
    return {
        "project": ProjectResource(root=_value(env, "LLMREG_PROJECT_ROOT", ".")),
        "registry": RegistryResource(url=_value(env, "LLMREG_STORE", ""),
                                     artifacts=_value(env, "LLMREG_ARTIFACTS", "")),
        "providers": ProvidersResource(path=_value(env, "LLMREG_PROVIDERS", "providers.yaml")),
    }


@dg.definitions
def resources() -> dg.Definitions:
    # Which variables are set is looked at when the code location loads, never at import.
    return dg.Definitions(resources=deployment_resources(os.environ))
