"""The gateway's request path, independent of the web framework.

    parse body -> API key (scopes) -> address (name, stage|version, env) -> route (cached,
    from the registry) -> variant (canary split by caller key) -> backend request built by
    llmreg.registry.generation (pinned params + the overrides the entry's serving policy
    allows, the template's message rule, tools_ref) -> admission (bounded queue per
    backend) -> backend (whole answer, or streamed) -> OpenAI-shaped response + one
    gateway_calls row (queued, never awaited) + Prometheus series

An address naming a configured experiment first picks the caller's experiment variant
(sticky, salted by the experiment's name), then resolves that variant's entry exactly like
a direct request, canary split included; the response and the row name both.

Then, off the response path, a shadow copy may run; its answer is logged, never returned.
The registry pins behaviour: a caller's field that differs from the entry's is refused
(400 naming the field and the pinned value) unless the entry's `serving.allow` permits it;
the eval runners build their requests with the same mapping, so what is served is what
was evaluated.
"""
from __future__ import annotations

import asyncio
import functools
import hashlib
import itertools
import logging
import os
import re
import time
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Mapping

from llmreg.registry.entry import EntrySpec
from llmreg.registry.errors import BadInput, NotFound, RegistryError
from llmreg.registry.generation import (ServingPolicy, merge_tools, parse_policy, pinned_generation, render_input,
                                        request_params)
from llmreg.serving.addressing import ENV_HEADER, ExperimentTarget, Target, parse_request_target
from llmreg.serving.admission import Admission
from llmreg.serving.api_errors import ApiError, bad_request, from_registry_error, server_error
from llmreg.serving.api_keys import Authenticator
from llmreg.serving.response_events import ResponseEvents, completed_response, response_events
from llmreg.serving.assignment import in_split, split_salt
from llmreg.serving.backends.base import Generation, GenerationRequest, StreamPart
from llmreg.serving.backends.pool import BackendPool, is_embedder
from llmreg.serving.call_log import REPLICA, CallLogWriter, utc_now
from llmreg.serving.config import ExperimentConfig, GatewayConfig, VariantConfig
from llmreg.serving.openai_requests import (ParsedRequest, decode_body, parse_chat, parse_completion,
                                            parse_embeddings, parse_responses)
from llmreg.serving.model_catalog import ModelCatalog
from llmreg.serving.prometheus_metrics import GatewayMetrics
from llmreg.serving.routes import Deployment, RouteTable, choose
from llmreg.serving.templates import PromptLibrary, ToolLibrary
from llmreg.serving import LLMREG_VERSION, json_bytes

log = logging.getLogger("llmreg.gateway")

CALLER_HEADER = "x-llmreg-caller"
MAX_SHADOW_INFLIGHT = 256
# Request ids: a random per-process prefix + a counter. Unique across replicas and restarts
# without a urandom syscall per request (uuid4 cost ~20 us on this path).
_ID_PREFIX = os.urandom(6).hex()
_ID_COUNTER = itertools.count(1)
_PID = [f"{os.getpid():x}"]  # os.getpid() is a system call each time (~2 us in a VM); refreshed in a forked child
os.register_at_fork(after_in_child=lambda: _PID.__setitem__(0, f"{os.getpid():x}"))
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]+$")


def new_request_id() -> str:
    return f"{_ID_PREFIX}{_PID[0]}-{next(_ID_COUNTER):x}"


@functools.lru_cache(maxsize=1024)
def pinned_params(spec: EntrySpec) -> dict[str, Any]:
    """The entry's params in canonical names plus its decoding strategy's (specs are frozen; hashable by digest)."""
    return pinned_generation(spec)


@functools.lru_cache(maxsize=1024)
def policy_for(spec: EntrySpec) -> ServingPolicy:
    """The entry's serving policy (its `serving:` section over the safe defaults)."""
    return parse_policy(getattr(spec, "serving", None), spec.params)


@dataclass
class Outcome:
    """What the web layer sends back: status, JSON body, headers, and (for streams) the parts."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    stream: AsyncIterator[str] | None = None  # SSE events of a streamed answer


def caller_digest(key: str | None) -> str | None:
    return None if key is None else hashlib.blake2b(key.encode("utf-8"), digest_size=8).hexdigest()


class Gateway:
    def __init__(self, config: GatewayConfig, registry: Any, *, call_log: CallLogWriter | None = None,
                 backends: BackendPool | None = None):
        self.config = config
        self.registry = registry
        self.routes = RouteTable(registry, config)
        self.prompts = PromptLibrary(config.prompts_dir)
        self.tools = ToolLibrary(config.tools_dir)
        self.auth = Authenticator.from_config(config.auth, registry, config.store_url,
                                              refresh_s=config.poll_interval_s)
        self.limits = Admission(config.limits)
        self.metrics = GatewayMetrics()
        self.catalog = ModelCatalog(registry, self.routes, config.experiments, config.default_env)
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
        self.auth.start()
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
        self.auth.stop()
        await self.backends.aclose()
        self.call_log.close()

    # ------------------------------------------------------------------ requests
    async def handle(self, kind: str, raw: bytes, headers: Mapping[str, str]) -> Outcome:
        """One API call. `kind`: chat | completion | responses. A streamed answer comes back
        with its first part already generated (so errors before the first token are plain
        HTTP errors) and the rest as `Outcome.stream`; its row is written when it ends."""
        started = time.perf_counter()
        request_id = request_id_from(headers)
        row: dict[str, Any] = {"request_id": request_id, "time": utc_now(), "endpoint": kind, "replica": REPLICA}
        out_headers = {"x-request-id": request_id}
        deployment: Deployment | None = None
        parsed: ParsedRequest | None = None
        generation: Generation | None = None
        caller = None
        slot = None
        try:
            body = decode_body(raw)
            parsed = PARSERS[kind](body)
            key = self.auth.authenticate(headers)
            target = parse_request_target(parsed.model, experiments=self.experiments,
                                          env_header=headers.get(ENV_HEADER), default_env=self.config.default_env)
            caller = self.auth.caller(key, headers.get(CALLER_HEADER) or parsed.caller, parsed.user)
            row["caller"] = caller_digest(caller)
            if isinstance(target, ExperimentTarget):
                experiment = self.experiments[target.name]
                arm = experiment.assign(caller, target.env)
                row.update(name=arm.entry, env=target.env, experiment=experiment.label(arm))
                out_headers["x-llmreg-experiment"] = row["experiment"]  # on errors too: which arm failed
                self.auth.check_entry(key, arm.entry)
                deployment, variant = await self._experiment_deployment(experiment, arm, target.env, caller)
            else:
                row["name"], row["env"] = target.name, target.env
                self.auth.check_target(key, target)
                deployment, variant = await self._deployment(target, caller)
            row.update(version=deployment.version, stage=deployment.stage, variant=variant)
            out_headers.update(self._identity_headers(deployment, variant))
            backend, model_name = await self.backends.get(deployment.entry)
            if kind == "embeddings":
                outcome = Outcome(200, await self._embed(deployment, variant, backend, model_name, parsed, request_id,
                                                         row), out_headers)
                raise _Done(outcome)
            request = self._render(deployment, parsed, model_name, request_id)
            slot = await self.limits.acquire(backend)
            upstream_started = time.perf_counter()
            if parsed.stream:
                parts = backend.stream(request)
                first = await anext(parts)  # the first token: errors before it answer as plain HTTP errors
                row["ttft_ms"] = (time.perf_counter() - upstream_started) * 1000.0
                events = response_events(self._response_head(request_id, deployment, variant, row)) \
                    if kind == "responses" else None
                stream = self._stream(kind, parsed, deployment, variant, request_id, row, started, upstream_started,
                                      first, parts, slot, events)
                slot = None  # the stream releases it
                return Outcome(200, {}, out_headers, stream=stream)
            try:
                generation = await backend.generate(request)
            finally:
                row["upstream_ms"] = (time.perf_counter() - upstream_started) * 1000.0
                self.limits.release(slot)
                slot = None
            row.update(prompt_tokens=generation.prompt_tokens, completion_tokens=generation.completion_tokens)
            outcome = Outcome(200, self._response(kind, request_id, deployment, variant, generation,
                                                  row.get("experiment")), out_headers)
        except _Done as done:
            outcome = done.outcome
        except RegistryError as exc:
            error = from_registry_error(exc, param=exc.field if isinstance(exc, BadInput) and exc.field else "model")
            outcome = self._error(error, out_headers, deployment, row)
        except ApiError as exc:
            out_headers.update(exc.headers)
            outcome = self._error(exc, out_headers, deployment, row)
        except StopAsyncIteration:
            outcome = self._error(server_error("the backend ended the stream before any token", code="backend_error"),
                                  out_headers, deployment, row)
        except asyncio.CancelledError:
            # The client went away or the server is stopping: still one row for the call.
            if slot is not None:
                self.limits.release(slot)
            row.update(status=499, error="cancelled: the client closed the connection or the gateway stopped",
                       latency_ms=(time.perf_counter() - started) * 1000.0)
            self._finish(row)
            raise
        except Exception as exc:  # noqa: BLE001 - a bug must still answer in the OpenAI shape, and be logged
            log.exception("gateway: unexpected error on request %s", request_id)
            outcome = self._error(server_error(f"internal gateway error ({type(exc).__name__}); see the gateway log "
                                               f"for request {request_id}", code="internal_error"),
                                  out_headers, deployment, row)
        if slot is not None:
            self.limits.release(slot)
        row["status"] = outcome.status
        row["latency_ms"] = (time.perf_counter() - started) * 1000.0
        self._finish(row)
        if generation is not None and deployment is not None and parsed is not None:
            self._maybe_shadow(deployment, parsed, generation, request_id, caller, row.get("experiment"))
        return outcome

    async def _embed(self, deployment: Deployment, variant: str, backend: Any, model_name: str,
                     parsed: ParsedRequest, request_id: str, row: dict[str, Any]) -> dict[str, Any]:
        """/v1/embeddings for an entry whose model is an embedder (labels.task: embedding, or an
        embedding model id), forwarded to its upstream; other entries are refused."""
        spec = deployment.entry.spec
        if not is_embedder(spec):
            raise bad_request(f"{deployment.ref} is not an embedding model (its model is {spec.model.request_id}); "
                              "/v1/embeddings serves entries labelled task: embedding", param="model",
                              code="model_not_embedder")
        embed = getattr(backend, "embed", None)
        if embed is None:
            raise bad_request(f"{deployment.ref}: the {backend.kind} backend has no embeddings; serve the embedder "
                              "through an OpenAI-compatible upstream, or locally as a hash-embedder config "
                              "(model.uri)", param="model", code="unsupported_model")
        slot = await self.limits.acquire(backend)
        started = time.perf_counter()
        try:
            data = await embed(model_name, parsed.embedding_input, dict(parsed.options), request_id)
        finally:
            row["upstream_ms"] = (time.perf_counter() - started) * 1000.0
            self.limits.release(slot)
        usage = data.get("usage") or {}
        row["prompt_tokens"] = usage.get("prompt_tokens")
        return {"object": "list", "data": data.get("data", []), "model": deployment.ref,
                "usage": {"prompt_tokens": usage.get("prompt_tokens", 0), "total_tokens": usage.get("total_tokens", 0)},
                "llmreg": self._identity(deployment, variant, request_id, row.get("experiment"))}

    def _finish(self, row: dict[str, Any]) -> None:
        """One call done: the call log row, the Prometheus series, one log line for slow starts."""
        self.call_log.submit(row)
        self.metrics.observe(row)

    async def _stream(self, kind: str, parsed: ParsedRequest, deployment: Deployment, variant: str, request_id: str,
                      row: dict[str, Any], started: float, upstream_started: float, first: StreamPart,
                      parts: AsyncIterator[StreamPart], slot: Any,
                      events: "ResponseEvents | None" = None) -> AsyncIterator[str]:
        """The SSE events of one streamed answer; the call's row is written when it ends
        (499 when the client hangs up: generation is cancelled with it). `events`: the
        Responses API's event sequence (/v1/responses) instead of chat/completion chunks."""
        chat = kind == "chat"
        head = {"id": f"{'chatcmpl' if chat else 'cmpl'}-{request_id}",
                "object": "chat.completion.chunk" if chat else "text_completion", "created": int(time.time()),
                "model": deployment.ref, "system_fingerprint": self.fingerprint(deployment),
                "llmreg": self._identity(deployment, variant, request_id, row.get("experiment"))}
        usage: Mapping[str, Any] | None = None
        row["status"] = 200
        try:
            if events is not None:
                for event in events.start():
                    yield event
            part: StreamPart | None = first
            while part is not None:
                if part.usage:
                    usage = part.usage
                if part.choices:
                    if events is None:
                        yield _event({**head, "choices": list(part.choices)})
                    else:
                        for event in events.delta(part.choices):
                            yield event
                part = await anext(parts, None)
            if usage is not None:
                row.update(prompt_tokens=usage.get("prompt_tokens"), completion_tokens=usage.get("completion_tokens"))
            if events is not None:
                for event in events.finish(_usage(row.get("prompt_tokens"), row.get("completion_tokens"))):
                    yield event
                return
            if parsed.include_usage:
                yield _event({**head, "choices": [], "usage": _usage(row.get("prompt_tokens"),
                                                                     row.get("completion_tokens"))})
            yield "data: [DONE]\n\n"
        except ApiError as exc:
            row.update(status=exc.status, error=exc.message[:1000])
            yield _event(exc.body()) if events is None else events.failed(exc)
        except (asyncio.CancelledError, GeneratorExit):
            row.update(status=499, error="cancelled: the client closed the connection during the stream")
            raise
        finally:
            await parts.aclose()
            self.limits.release(slot)
            row["upstream_ms"] = (time.perf_counter() - upstream_started) * 1000.0
            row["latency_ms"] = (time.perf_counter() - started) * 1000.0
            self._finish(row)

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

    def _render(self, deployment: Deployment, parsed: ParsedRequest, model_name: str,
                request_id: str = "") -> GenerationRequest:
        """The backend request, built by the one mapping the eval runners use
        (llmreg.registry.generation): pinned params + allowed overrides, the template's
        message rule, the entry's tool schemas."""
        spec = deployment.entry.spec
        policy = policy_for(spec)
        params = request_params(pinned_params(spec), policy, parsed.options)
        template = self.prompts.get(spec.prompt_ref, spec.prompt_sha256) if spec.prompt_ref else None
        rendered = render_input(template, policy.messages, prompt=parsed.prompt,
                                messages=parsed.messages if parsed.kind == "chat" else (), variables=parsed.variables)
        tools = self.tools.get(spec.tools_ref) if spec.tools_ref else ()
        return GenerationRequest(kind=parsed.kind, model=model_name, input=rendered, params=params,
                                 tools=merge_tools(tools, parsed.tools, policy), request_id=request_id)

    def fingerprint(self, deployment: Deployment) -> str:
        """`system_fingerprint`: the gateway's release and the registry version served."""
        return f"llmreg-{LLMREG_VERSION}:{deployment.ref}"

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

    def _response_head(self, request_id: str, deployment: Deployment, variant: str,
                       row: Mapping[str, Any]) -> dict[str, Any]:
        """The fields every /v1/responses answer (and every streamed `response` object) carries."""
        return {"id": f"resp_{request_id}", "object": "response", "created_at": int(time.time()),
                "model": deployment.ref, "llmreg": self._identity(deployment, variant, request_id,
                                                                  row.get("experiment"))}

    def _response(self, kind: str, request_id: str, deployment: Deployment, variant: str,
                  generation: Generation, experiment: str | None = None) -> dict[str, Any]:
        usage = _usage(generation.prompt_tokens, generation.completion_tokens)
        identity = self._identity(deployment, variant, request_id, experiment)
        created = int(time.time())
        if kind == "responses":
            head = self._response_head(request_id, deployment, variant, {"experiment": experiment})
            return completed_response(head, generation.text, usage)
        head = ({"id": f"chatcmpl-{request_id}", "object": "chat.completion"} if kind == "chat"
                else {"id": f"cmpl-{request_id}", "object": "text_completion"})
        return {**head, "created": created, "model": deployment.ref, "system_fingerprint": self.fingerprint(deployment),
                "choices": [dict(c) for c in generation.choices], "usage": usage, "llmreg": identity}

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
            backend, model_name = await self.backends.get(shadow.entry)
            generation = await backend.generate(self._render(shadow, parsed, model_name, request_id))
            row.update(status=200, prompt_tokens=generation.prompt_tokens,
                       completion_tokens=generation.completion_tokens, agrees=int(generation.text == served_text))
        except ApiError as exc:
            row.update(status=exc.status, error=exc.message[:1000])
        except RegistryError as exc:
            row.update(status=from_registry_error(exc).status, error=str(exc)[:1000])
        except Exception as exc:  # noqa: BLE001 - a shadow failure is data, never the caller's problem
            row.update(status=500, error=f"{type(exc).__name__}: {exc}"[:1000])
        row["latency_ms"] = row["upstream_ms"] = (time.perf_counter() - started) * 1000.0
        self.call_log.submit(row)

    # ------------------------------------------------------------------ models
    def models(self) -> list[dict[str, Any]]:
        """GET /v1/models (model_catalog.py)."""
        return self.catalog.models()

    async def model(self, model_id: str, env_header: str | None) -> dict[str, Any]:
        """GET /v1/models/{model} (model_catalog.py)."""
        return await self.catalog.model(model_id, env_header)


def _usage(prompt_tokens: int | None, completion_tokens: int | None) -> dict[str, int]:
    usage = {"prompt_tokens": prompt_tokens or 0, "completion_tokens": completion_tokens or 0}
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    return usage


def _event(data: Mapping[str, Any]) -> str:
    return f"data: {json_bytes.dumps(data).decode('utf-8')}\n\n"


def request_id_from(headers: Mapping[str, str]) -> str:
    """The client's X-Request-ID when it is a sane token (kept end to end), else a new id."""
    given = headers.get("x-request-id")
    if given and len(given) <= 128 and _REQUEST_ID_RE.match(given):
        return given
    return new_request_id()


PARSERS = {"chat": parse_chat, "completion": parse_completion, "responses": parse_responses,
           "embeddings": parse_embeddings}


class _Done(Exception):
    """An answer ready before the generation path (embeddings)."""

    def __init__(self, outcome: Outcome):
        self.outcome = outcome

