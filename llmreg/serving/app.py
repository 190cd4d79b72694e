"""The ASGI app (Starlette on uvicorn) and `run`, which `llmreg serve` calls.

    POST /v1/chat/completions    POST /v1/completions    GET /v1/models    GET /v1/models/{model}
    GET  /healthz

Starlette rather than FastAPI: the gateway validates bodies itself (OpenAI error shapes,
one line per problem) and a thinner stack keeps per-request overhead well under a
millisecond. Unknown paths and methods answer in the OpenAI error shape too.
"""
from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import time
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from llmreg.serving.addressing import ENV_HEADER
from llmreg.serving.api_errors import ApiError
from llmreg.serving.config import GatewayConfig
from llmreg.serving.gateway import Gateway, Outcome

log = logging.getLogger("llmreg.gateway")


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body, ensure_ascii=False, separators=(",", ":")), status_code=status,
                    headers=headers, media_type="application/json")


def _sse(outcome: Outcome) -> StreamingResponse:
    """A finished generation as an OpenAI event stream (one content chunk, one finish chunk)."""
    body = outcome.body
    choice = body["choices"][0]
    chat = body["object"] == "chat.completion"
    head = {"id": body["id"], "object": "chat.completion.chunk" if chat else "text_completion",
            "created": body["created"], "model": body["model"], "llmreg": body["llmreg"]}
    if chat:
        first = {"index": 0, "delta": {"role": "assistant", "content": choice["message"]["content"]}, "finish_reason": None}
        last = {"index": 0, "delta": {}, "finish_reason": choice["finish_reason"]}
    else:
        first = {"index": 0, "text": choice["text"], "finish_reason": None}
        last = {"index": 0, "text": "", "finish_reason": choice["finish_reason"]}

    async def events():
        for part in (first, last):
            yield f"data: {json.dumps({**head, 'choices': [part]}, ensure_ascii=False)}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream", headers=outcome.headers)


def create_app(config: GatewayConfig, *, registry: Any = None, gateway: Gateway | None = None) -> Starlette:
    """The gateway app; opens the registry at config.store_url unless one is given."""
    if gateway is None:
        if registry is None:
            from llmreg.registry.api import Registry

            registry = Registry.open(config.store_url)
        try:
            gateway = Gateway(config, registry)
        except BaseException:
            registry.close()  # a refused config leaves nothing open
            raise

    async def completions(request: Request, kind: str) -> Response:
        outcome = await gateway.handle(kind, await request.body(), request.headers)
        if outcome.stream and outcome.status == 200:
            return _sse(outcome)
        return _json(outcome.status, outcome.body, outcome.headers)

    async def chat(request: Request) -> Response:
        return await completions(request, "chat")

    async def completion(request: Request) -> Response:
        return await completions(request, "completion")

    async def models(request: Request) -> Response:
        data = await asyncio.to_thread(gateway.models)
        return _json(200, {"object": "list", "data": data})

    async def model(request: Request) -> Response:
        try:
            body = await gateway.model(request.path_params["model"], request.headers.get(ENV_HEADER))
        except ApiError as exc:
            return _json(exc.status, exc.body())
        return _json(200, body)

    async def health(request: Request) -> Response:
        routes = gateway.routes
        return _json(200, {"status": "ok", "registry_seq": routes.seq, "routes": len(routes.known()),
                           "call_log": {"written": gateway.call_log.written,
                                        "failed_batches": gateway.call_log.failed_batches},
                           "time": time.time()})

    async def http_error(request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 404:
            error = ApiError(404, f"no route {request.method} {request.url.path}; the gateway serves "
                                  "/v1/chat/completions, /v1/completions and /v1/models", code="unknown_url")
        elif exc.status_code == 405:
            error = ApiError(405, f"method {request.method} is not allowed on {request.url.path}",
                             code="method_not_allowed")
        else:
            error = ApiError(exc.status_code, str(exc.detail), code=None)
        return _json(error.status, error.body())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        gateway.start()
        # Everything loaded so far (registry, SQLAlchemy, models) lives as long as the process:
        # moving it out of the collector's view keeps full collections from pausing requests.
        gc.freeze()
        try:
            yield
        finally:
            await gateway.aclose()

    app = Starlette(
        routes=[
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route("/v1/completions", completion, methods=["POST"]),
            Route("/v1/models", models, methods=["GET"]),
            Route("/v1/models/{model:path}", model, methods=["GET"]),
            Route("/healthz", health, methods=["GET"]),
        ],
        exception_handlers={HTTPException: http_error},
        lifespan=lifespan,
    )
    app.state.gateway = gateway
    return app


def load_config(store_url: str | None = None, config_path: str | None = None, *,
                prompts_dir: str | None = None) -> GatewayConfig:
    config = GatewayConfig.from_file(config_path) if config_path else GatewayConfig()
    config = config.with_store(store_url)
    if prompts_dir is not None:
        from dataclasses import replace

        config = replace(config, prompts_dir=prompts_dir)
    return config


def run(host: str = "127.0.0.1", port: int = 8080, store_url: str | None = None, *, config_path: str | None = None,
        prompts_dir: str | None = None, artifacts: str | None = None, log_level: str = "info") -> None:
    """Serve the gateway until interrupted (what `llmreg serve` calls). Blocks.

    store_url: the registry (None: LLMREG_STORE or .llmreg/registry.db); config_path: gateway
    YAML (llmreg/serving/config.py); artifacts: the registry's artifact store root (default as
    Registry.open). SIGINT/SIGTERM shut down gracefully: in-flight requests and shadow
    copies finish and the call log is written out before the process exits.
    """
    import uvicorn

    from llmreg.registry.api import Registry

    config = load_config(store_url, config_path, prompts_dir=prompts_dir)
    logging.basicConfig(level=getattr(logging, log_level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(config, registry=Registry.open(config.store_url, artifacts=artifacts))
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)
