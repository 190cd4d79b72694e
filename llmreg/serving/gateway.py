"""The gateway's request path, independent of the web framework.

    parse body -> address (name, stage|version, env) -> route (cached, from the registry)
    -> variant (canary split by caller key) -> render the pinned prompt, merge pinned params
    -> backend -> OpenAI-shaped response + one gateway_calls row (queued, never awaited)

An address naming a configured experiment first picks the caller's experiment variant
(sticky, salted by the experiment's name), then resolves that variant's entry exactly like
a direct request, canary split included; the response and the row name both.

Then, off the response path, a shadow copy may run; its answer is logged, never returned.
Entry params win over the client's sampling options: the registry pins behaviour, the
client may only fill options the entry leaves open.
"""
from __future__ import annotations

import asyncio
import functools
import hashlib
import itertools
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

from llmreg.registry.entry import EntrySpec
from llmreg.registry.errors import BadInput, NotFound, RegistryError
from llmreg.registry.fields import thaw
from llmreg.serving.addressing import ENV_HEADER, ExperimentTarget, Target, parse_request_target
from llmreg.serving.api_errors import ApiError, from_registry_error, server_error
from llmreg.serving.assignment import in_split, split_salt
from llmreg.serving.backends.base import Generation, GenerationRequest
from llmreg.serving.backends.pool import BackendPool
from llmreg.serving.call_log import REPLICA, CallLogWriter, utc_now
from llmreg.serving.config import ExperimentConfig, GatewayConfig, VariantConfig
from llmreg.serving.openai_requests import ParsedRequest, decode_body, parse_chat, parse_completion
from llmreg.serving.routes import Deployment, Route, RouteTable
from llmreg.serving.templates import PromptLibrary, render_template

log = logging.getLogger("llmreg.gateway")

CALLER_HEADER = "x-llmreg-caller"
MAX_SHADOW_INFLIGHT = 256
# Request ids: a random per-process prefix + a counter. Unique across replicas and restarts
# without a urandom syscall per request (uuid4 cost ~20 us on this path).
_ID_PREFIX = os.urandom(6).hex()
_ID_COUNTER = itertools.count(1)


def new_request_id() -> str:
    return f"{_ID_PREFIX}{os.getpid():x}-{next(_ID_COUNTER):x}"


@functools.lru_cache(maxsize=1024)
def pinned_params(spec: EntrySpec) -> dict[str, Any]:
    """The entry's params as plain JSON types (specs are frozen; hashable by digest)."""
    return thaw(spec.params)


@dataclass
class Outcome:
    """What the web layer sends back: status, JSON body, headers, and (for streams) the parts."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    stream: bool = False


def caller_digest(key: str | None) -> str | None:
    return None if key is None else hashlib.blake2b(key.encode("utf-8"), digest_size=8).hexdigest()


def merge_params(pinned: Mapping[str, Any], requested: Mapping[str, Any]) -> dict[str, Any]:
    """Entry params win; the client may only fill options the entry leaves open."""
    merged = {k: v for k, v in requested.items() if k not in pinned}
    merged.update(pinned)
    return merged


def choose(route: Route, target: Target, caller: str | None) -> tuple[Deployment, str]:
    """The deployment serving this request and its variant name."""
    if not route.registered:
        raise NotFound(f"no entry named {target.name!r} in the registry; check the name (GET /v1/models lists them)")
    if target.stage == "production":
        production = route.production
        if production is None:
            raise NotFound(f"{target.name}: nothing holds production in env {target.env!r}; promote a version "
                           f"(llmreg promote {target.name}@VERSION --to production --env {target.env})")
        canary = route.canary
        if canary is not None and in_split(caller, split_salt(target.name, target.env), canary.weight):
            return canary, "canary"
        return production, "production"
    held = route.holder(target.stage)
    if held is None:
        raise NotFound(f"{target.name}: nothing holds {target.stage} in env {target.env!r}")
    return held, target.stage


class Gateway:
    def __init__(self, config: GatewayConfig, registry: Any, *, call_log: CallLogWriter | None = None,
                 backends: BackendPool | None = None):
        self.config = config
        self.registry = registry
        self.routes = RouteTable(registry, config)
        self.prompts = PromptLibrary(config.prompts_dir)
        self.backends = backends or BackendPool(config, artifact_store=getattr(registry, "artifacts", None))
        self.call_log = call_log or CallLogWriter(config.store_url, config.call_log)
        self.guard = None
        self._shadow_tasks: set[asyncio.Task] = set()
        self.shadow_skipped = 0
        self.experiments: Mapping[str, ExperimentConfig] = config.experiments
        if self.experiments:
            self._check_experiments()

    def _check_experiments(self) -> None:
        """Refuse an experiment named like a registry entry (a client could not tell which it
        gets); warn about variant entries not registered yet (requests 404 until they are)."""
        names = set(self.registry.names())
        for experiment in self.experiments.values():
            if experiment.name in names:
                raise BadInput(f"gateway config: experiments.{experiment.name}: a registry entry has this name; "
                               "rename the experiment (clients address both by name)",
                               field=f"experiments.{experiment.name}")
            for variant in experiment.variants:
                if variant.entry not in names:
                    log.warning("experiment %s variant %s: no registry entry %r yet; its requests answer 404 until "
                                "it is registered", experiment.name, variant.name, variant.entry)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "Gateway":
        self.call_log.start()
        self.routes.start()
        if self.config.slo_guard.enabled:
            from llmreg.serving.slo_guard import SloGuard

            self.guard = SloGuard(self.registry, self.routes, self.call_log.engine, self.config.slo_guard).start()
        return self

    async def aclose(self) -> None:
        if self._shadow_tasks:
            await asyncio.wait(list(self._shadow_tasks), timeout=30)
        if self.guard is not None:
            self.guard.stop()
        self.routes.stop()
        await self.backends.aclose()
        self.call_log.close()

    # ------------------------------------------------------------------ requests
    async def handle(self, kind: str, raw: bytes, headers: Mapping[str, str]) -> Outcome:
        started = time.perf_counter()
        request_id = new_request_id()
        row: dict[str, Any] = {"request_id": request_id, "time": utc_now(), "endpoint": kind, "replica": REPLICA}
        out_headers = {"x-request-id": request_id}
        deployment: Deployment | None = None
        parsed: ParsedRequest | None = None
        generation: Generation | None = None
        caller = None
        try:
            body = decode_body(raw)
            parsed = parse_chat(body) if kind == "chat" else parse_completion(body)
            target = parse_request_target(parsed.model, experiments=self.experiments,
                                          env_header=headers.get(ENV_HEADER), default_env=self.config.default_env)
            caller = headers.get(CALLER_HEADER) or parsed.caller or parsed.user
            row["caller"] = caller_digest(caller)
            if isinstance(target, ExperimentTarget):
                experiment = self.experiments[target.name]
                arm = experiment.assign(caller, target.env)
                row.update(name=arm.entry, env=target.env, experiment=experiment.label(arm))
                out_headers["x-llmreg-experiment"] = row["experiment"]  # on errors too: which arm failed
                deployment, variant = await self._experiment_deployment(experiment, arm, target.env, caller)
            else:
                row["name"], row["env"] = target.name, target.env
                deployment, variant = await self._deployment(target, caller)
            row.update(version=deployment.version, stage=deployment.stage, variant=variant)
            out_headers.update(self._identity_headers(deployment, variant))
            request = self._render(deployment, parsed)
            backend, model_name = await self.backends.get(deployment.entry)
            upstream_started = time.perf_counter()
            try:
                generation = await backend.generate(_with_model(request, model_name))
            finally:
                row["upstream_ms"] = (time.perf_counter() - upstream_started) * 1000.0
            row.update(prompt_tokens=generation.prompt_tokens, completion_tokens=generation.completion_tokens)
            outcome = Outcome(200, self._response(kind, request_id, deployment, variant, generation,
                                                  row.get("experiment")), out_headers, stream=parsed.stream)
        except RegistryError as exc:
            error = from_registry_error(exc)
            outcome = self._error(error, out_headers, deployment, row)
        except ApiError as exc:
            outcome = self._error(exc, out_headers, deployment, row)
        except asyncio.CancelledError:
            # The client went away or the server is stopping: still one row for the call.
            row.update(status=499, error="cancelled: the client closed the connection or the gateway stopped",
                       latency_ms=(time.perf_counter() - started) * 1000.0)
            self.call_log.submit(row)
            raise
        except Exception as exc:  # noqa: BLE001 - a bug must still answer in the OpenAI shape, and be logged
            log.exception("gateway: unexpected error on request %s", request_id)
            outcome = self._error(server_error(f"internal gateway error ({type(exc).__name__}); see the gateway log "
                                               f"for request {request_id}", code="internal_error"),
                                  out_headers, deployment, row)
        row["status"] = outcome.status
        row["latency_ms"] = (time.perf_counter() - started) * 1000.0
        self.call_log.submit(row)
        if generation is not None and deployment is not None and parsed is not None:
            self._maybe_shadow(deployment, parsed, generation, request_id, caller, row.get("experiment"))
        return outcome

    async def _deployment(self, target: Target, caller: str | None) -> tuple[Deployment, str]:
        if target.version is not None:
            entry = self.routes.cached_pinned(target.name, target.version)
            if entry is None:
                entry = await asyncio.to_thread(self.routes.pinned, target.name, target.version)
            return Deployment(target.name, target.version, target.env, "pinned", entry), "pinned"
        route = self.routes.cached(target.name, target.env)
        if route is None:
            route = await asyncio.to_thread(self.routes.route, target.name, target.env)
        return choose(route, target, caller)

    async def _experiment_deployment(self, experiment: ExperimentConfig, arm: VariantConfig, env: str,
                                     caller: str | None) -> tuple[Deployment, str]:
        """The assigned variant's deployment, resolved like a direct request (canary split included).

        Every variant that takes traffic must resolve, not only the caller's: with one arm
        missing, serving the others would quietly turn the split into 100/0 for some callers
        and bias the comparison, so the whole experiment answers 404 naming the missing arm.
        """
        resolved: dict[str, tuple[Deployment, str]] = {}
        for variant in experiment.variants:
            if variant.weight <= 0.0 and variant is not arm:
                continue
            target = Target(variant.entry, env, variant.stage, variant.version)
            try:
                resolved[variant.name] = await self._deployment(target, caller)
            except NotFound as exc:
                raise ApiError(404, f"experiment {experiment.name!r} variant {variant.name!r} ({target.label}, gateway "
                                    f"config experiments.{experiment.name}.variants.{variant.name}): {exc}",
                               param="model", code="model_not_found") from None
        return resolved[arm.name]

    def _render(self, deployment: Deployment, parsed: ParsedRequest) -> GenerationRequest:
        spec = deployment.entry.spec
        params = merge_params(pinned_params(spec), parsed.options)
        text = parsed.text_variable()
        if spec.prompt_ref is None:
            return GenerationRequest(kind=parsed.kind, model="", prompt=text or "", messages=parsed.messages,
                                     params=params)
        template = self.prompts.get(spec.prompt_ref, spec.prompt_sha256)
        variables = {} if text is None else {"text": text}
        variables.update(parsed.variables)
        rendered = render_template(template, variables)
        messages = parsed.messages
        if parsed.kind == "chat":
            messages = _replace_last_user(messages, rendered)
        return GenerationRequest(kind=parsed.kind, model="", prompt=rendered, messages=messages, params=params,
                                 templated=True)

    @staticmethod
    def _identity_headers(deployment: Deployment, variant: str) -> dict[str, str]:
        return {"x-llmreg-version": deployment.ref, "x-llmreg-env": deployment.env,
                "x-llmreg-stage": deployment.stage, "x-llmreg-variant": variant}

    @staticmethod
    def _identity(deployment: Deployment, variant: str, request_id: str,
                  experiment: str | None = None) -> dict[str, Any]:
        identity = {"entry": deployment.name, "version": deployment.version, "env": deployment.env,
                    "stage": deployment.stage, "variant": variant, "request_id": request_id}
        if experiment is not None:  # only on experiment traffic: direct requests keep their shape
            name, _, arm = experiment.partition("/")
            identity["experiment"] = {"name": name, "variant": arm}
        return identity

    def _response(self, kind: str, request_id: str, deployment: Deployment, variant: str,
                  generation: Generation, experiment: str | None = None) -> dict[str, Any]:
        usage = {"prompt_tokens": generation.prompt_tokens or 0, "completion_tokens": generation.completion_tokens or 0}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        if kind == "chat":
            choice = {"index": 0, "message": {"role": "assistant", "content": generation.text},
                      "finish_reason": generation.finish_reason, "logprobs": None}
            head = {"id": f"chatcmpl-{request_id}", "object": "chat.completion"}
        else:
            choice = {"index": 0, "text": generation.text, "finish_reason": generation.finish_reason, "logprobs": None}
            head = {"id": f"cmpl-{request_id}", "object": "text_completion"}
        return {**head, "created": int(time.time()), "model": deployment.ref, "choices": [choice], "usage": usage,
                "llmreg": self._identity(deployment, variant, request_id, experiment)}

    def _error(self, error: ApiError, headers: dict[str, str], deployment: Deployment | None,
               row: dict[str, Any]) -> Outcome:
        row["error"] = error.message[:1000]
        body = error.body()
        if deployment is not None:
            body["llmreg"] = self._identity(deployment, row.get("variant", deployment.stage), row["request_id"],
                                            row.get("experiment"))
        return Outcome(error.status, body, headers)

    # ------------------------------------------------------------------ shadow
    def _maybe_shadow(self, served: Deployment, parsed: ParsedRequest, generation: Generation, request_id: str,
                      caller: str | None, experiment: str | None = None) -> None:
        route = self.routes.cached(served.name, served.env)
        if route is None or route.shadow is None or route.shadow.version == served.version:
            return
        if not in_split(caller, split_salt(served.name, served.env, "shadow"), route.shadow_fraction):
            return
        if len(self._shadow_tasks) >= MAX_SHADOW_INFLIGHT:
            self.shadow_skipped += 1  # shed shadow copies under overload; served traffic is unaffected
            return
        task = asyncio.get_running_loop().create_task(
            self._shadow(route.shadow, parsed, generation.text, request_id, caller, experiment))
        self._shadow_tasks.add(task)
        task.add_done_callback(self._shadow_tasks.discard)

    async def _shadow(self, shadow: Deployment, parsed: ParsedRequest, served_text: str, request_id: str,
                      caller: str | None, experiment: str | None = None) -> None:
        started = time.perf_counter()
        row: dict[str, Any] = {"request_id": request_id, "time": utc_now(), "endpoint": parsed.kind,
                               "replica": REPLICA, "name": shadow.name, "env": shadow.env, "version": shadow.version,
                               "stage": "shadow", "variant": "shadow", "caller": caller_digest(caller),
                               "experiment": experiment}
        try:
            request = self._render(shadow, parsed)
            backend, model_name = await self.backends.get(shadow.entry)
            generation = await backend.generate(_with_model(request, model_name))
            row.update(status=200, prompt_tokens=generation.prompt_tokens,
                       completion_tokens=generation.completion_tokens, agrees=int(generation.text == served_text))
        except ApiError as exc:
            row.update(status=exc.status, error=exc.message[:1000])
        except Exception as exc:  # noqa: BLE001 - a shadow failure is data, never the caller's problem
            row.update(status=500, error=f"{type(exc).__name__}: {exc}"[:1000])
        row["latency_ms"] = row["upstream_ms"] = (time.perf_counter() - started) * 1000.0
        self.call_log.submit(row)

    # ------------------------------------------------------------------ models
    def models(self) -> list[dict[str, Any]]:
        """GET /v1/models: every name@stage:env that currently resolves, plus the held version."""
        out = []
        for name in self.registry.names():
            for pointer in self.registry.pointers(name):
                model_id = f"{name}@{pointer.stage}:{pointer.env}"
                out.append({"id": model_id, "object": "model", "created": 0, "owned_by": "llmreg",
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
            envs = {env for name, env in held if name in entries} | {self.config.default_env}
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
                out.append({"id": f"{experiment.name}:{env}", "object": "model", "created": 0, "owned_by": "llmreg",
                            "llmreg": {"experiment": experiment.name, "env": env, "serving": serving,
                                       "variants": variants}})
        return out

    async def model(self, model_id: str, env_header: str | None) -> dict[str, Any]:
        """GET /v1/models/{model}: resolve an address to the version it serves now (no generation)."""
        target = parse_request_target(model_id, experiments=self.experiments, env_header=env_header,
                                      default_env=self.config.default_env)
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
        return {"id": model_id, "object": "model", "created": 0, "owned_by": "llmreg",
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
        return {"id": model_id, "object": "model", "created": 0, "owned_by": "llmreg",
                "llmreg": {"experiment": experiment.name, "env": env, "serving": True, "variants": variants}}


def _variant_listing(variant: VariantConfig, version: str | None) -> dict[str, Any]:
    return {"variant": variant.name, "entry": variant.entry, "stage": variant.stage or "pinned",
            "weight": variant.weight, "version": version}


def _replace_last_user(messages: tuple[Mapping[str, Any], ...], content: str) -> tuple[Mapping[str, Any], ...]:
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].get("role") == "user":
            return messages[:i] + ({"role": "user", "content": content},) + messages[i + 1:]
    return messages + ({"role": "user", "content": content},)


def _with_model(request: GenerationRequest, model: str) -> GenerationRequest:
    return GenerationRequest(kind=request.kind, model=model, prompt=request.prompt, messages=request.messages,
                             params=request.params, templated=request.templated)
