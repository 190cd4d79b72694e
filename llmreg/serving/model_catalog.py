"""What `GET /v1/models` and `GET /v1/models/{model}` answer: every address that resolves
now (NAME@STAGE:ENV, and each experiment as EXPERIMENT:ENV with its variants' versions),
and, for one address, the version it serves, without generating. `created` is when the
version took the stage (or was registered, for a pinned version)."""
from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any, Mapping

from llmreg.registry.errors import RegistryError
from llmreg.serving.addressing import ExperimentTarget, parse_request_target
from llmreg.serving.api_errors import ApiError, from_registry_error
from llmreg.serving.config import ExperimentConfig, VariantConfig
from llmreg.serving.routes import Deployment, RouteTable, choose


class ModelCatalog:
    def __init__(self, registry: Any, routes: RouteTable, experiments: Mapping[str, ExperimentConfig],
                 default_env: str):
        self.registry = registry
        self.routes = routes
        self.experiments = experiments
        self.default_env = default_env

    def models(self) -> list[dict[str, Any]]:
        """GET /v1/models: every name@stage:env that currently resolves, plus the held version."""
        out = []
        for name in self.registry.names():
            for pointer in self.registry.pointers(name):
                model_id = f"{name}@{pointer.stage}:{pointer.env}"
                out.append({"id": model_id, "object": "model", "created": epoch(pointer.time), "owned_by": "llmreg",
                            "llmreg": {"entry": name, "version": pointer.version, "env": pointer.env,
                                       "stage": pointer.stage, "weight": pointer.weight}})
        if self.experiments:
            out.extend(self._experiment_models())
        return out

    def _experiment_models(self) -> list[dict[str, Any]]:
        """One `EXPERIMENT:ENV` per environment any variant's entry is deployed in (the default
        environment at least), with each variant's version there; `serving` is false while a
        variant that takes traffic does not resolve (its requests answer 404)."""
        held: dict[tuple[str, str], dict[str, str]] = {}
        for pointer in self.registry.pointers():
            held.setdefault((pointer.name, pointer.env), {})[pointer.stage] = pointer.version
        out = []
        for experiment in self.experiments.values():
            entries = {v.entry for v in experiment.variants}
            envs = {env for name, env in held if name in entries} | {self.default_env}
            pinned = {v.entry: set(self.registry.versions(v.entry)) for v in experiment.variants if v.version}
            for env in sorted(envs):
                variants = []
                for v in experiment.variants:
                    if v.version is not None:
                        version = v.version if v.version in pinned[v.entry] else None
                    else:
                        version = held.get((v.entry, env), {}).get(v.stage)
                    variants.append(_variant_listing(v, version))
                serving = all(item["version"] is not None for item in variants if item["weight"] > 0)
                out.append({"id": f"{experiment.name}:{env}", "object": "model", "created": int(time.time()), "owned_by": "llmreg",
                            "llmreg": {"experiment": experiment.name, "env": env, "serving": serving,
                                       "variants": variants}})
        return out

    async def model(self, model_id: str, env_header: str | None) -> dict[str, Any]:
        """GET /v1/models/{model}: resolve an address to the version it serves now (no generation)."""
        target = parse_request_target(model_id, experiments=self.experiments, env_header=env_header,
                                      default_env=self.default_env)
        if isinstance(target, ExperimentTarget):
            return await self._experiment_model(model_id, self.experiments[target.name], target.env)
        try:
            if target.version is not None:
                entry = await asyncio.to_thread(self.routes.pinned, target.name, target.version)
                deployment = Deployment(target.name, target.version, target.env, "pinned", entry)
            else:
                route = self.routes.cached(target.name, target.env)
                if route is None:
                    route = await asyncio.to_thread(self.routes.route, target.name, target.env)
                deployment = route.holder(target.stage) if route.registered else None
                if deployment is None:
                    choose(route, target, None)  # raises the precise NotFound
        except RegistryError as exc:
            raise from_registry_error(exc) from None
        return {"id": model_id, "object": "model", "created": epoch(deployment.since or deployment.entry.created_at),
                "owned_by": "llmreg",
                "llmreg": {"entry": deployment.name, "version": deployment.version, "env": deployment.env,
                           "stage": deployment.stage, "weight": deployment.weight,
                           "model": deployment.entry.spec.model.request_id}}

    async def _experiment_model(self, model_id: str, experiment: ExperimentConfig, env: str) -> dict[str, Any]:
        """GET /v1/models/EXPERIMENT[:ENV]: each variant's version now; 404 names a variant that does not resolve."""
        variants = []
        for variant in experiment.variants:
            try:
                body = await self.model(variant.address(env), None)
            except ApiError as exc:
                if variant.weight <= 0.0 and exc.status == 404:
                    variants.append(_variant_listing(variant, None))
                    continue
                raise ApiError(exc.status, f"experiment {experiment.name!r} variant {variant.name!r}: {exc.message}",
                               param="model", code=exc.code) from None
            variants.append(_variant_listing(variant, body["llmreg"]["version"]))
        return {"id": model_id, "object": "model", "created": int(time.time()), "owned_by": "llmreg",
                "llmreg": {"experiment": experiment.name, "env": env, "serving": True, "variants": variants}}


def _variant_listing(variant: VariantConfig, version: str | None) -> dict[str, Any]:
    return {"variant": variant.name, "entry": variant.entry, "stage": variant.stage or "pinned",
            "weight": variant.weight, "version": version}


def epoch(timestamp: str | None) -> int:
    """Unix seconds of a registry timestamp (YYYY-MM-DDTHH:MM:SS[.f]Z); 0 when unknown."""
    if not timestamp:
        return 0
    try:
        return int(datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0
