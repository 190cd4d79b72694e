"""The ASGI app (Starlette on uvicorn) and `run`, which `llmreg serve` calls.

    POST /v1/chat/completions    POST /v1/completions    POST /v1/responses (plain text)
    POST /v1/embeddings (entries whose model is an embedder, through their upstream)
    GET  /v1/models    GET /v1/models/{model}    GET /health (/healthz)    GET /version
    GET  /metrics (Prometheus)

A request whose client hangs up, before its answer or during its stream, is cancelled
(generation stops at the next token) and logged as 499.

Starlette rather than FastAPI: the gateway validates bodies itself (OpenAI error shapes,
one line per problem) and a thinner stack keeps per-request overhead well under a
millisecond; the four POST endpoints skip even Starlette's layers (GatewayApp) unless CORS
is on, and under `run` (uvicorn with fast_lane.GatewayHttpProtocol) skip ASGI altogether.
Unknown paths and methods answer in the OpenAI error shape too.
"""
from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import os
import sys
import time
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from llmreg.serving import LLMREG_VERSION, json_bytes
from llmreg.serving.addressing import ENV_HEADER
from llmreg.serving.api_errors import ApiError, unhandled_error
from llmreg.serving.call_log import REPLICA
from llmreg.serving.config import GatewayConfig
from llmreg.serving.fast_lane import GatewayHttpProtocol, Lane
from llmreg.serving.gateway import Gateway
from llmreg.serving.one_write import one_write

log = logging.getLogger("llmreg.gateway")

# How uvicorn serves the gateway, in `run` and in tests (ServerThread): the fast lane's protocol;
# no access log (the call log has every call); no X-Forwarded-* rewriting (the gateway never
# reads the client's address, and that middleware would also hide the app from the lane).
SERVER_OPTIONS: dict[str, Any] = {"access_log": False, "proxy_headers": False, "http": GatewayHttpProtocol}

WORKER_ENV = "LLMREG_GATEWAY_WORKER"  # how `run(workers=N)` hands its settings to the worker processes
METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's own switch to multiprocess mode


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(json_bytes.dumps(body), status_code=status, headers=headers, media_type="application/json")


def _raw_headers(headers: dict[str, str] | None) -> list[tuple[bytes, bytes]]:
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()] if headers else []


async def _until_disconnect(receive: Any) -> None:
    """Returns when the client closes the connection (the body has been read already)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


async def _cancel_on_disconnect(receive: Any, work: Any, loop: asyncio.AbstractEventLoop) -> Any:
    """Await `work` (a coroutine) in this task; if the client disconnects first, cancel it and
    return None. One watcher task per request (~15 us), no asyncio.wait (~70 us). `loop` is
    the running loop, passed in: on Python 3.11 looking it up is a getpid() system call."""
    current = asyncio.current_task(loop)
    gone = False

    async def watch() -> None:
        nonlocal gone
        await _until_disconnect(receive)
        gone = True
        current.cancel()

    watcher = loop.create_task(watch())
    try:
        return await work
    except asyncio.CancelledError:
        if gone:
            current.uncancel()  # our own cancel: the request ends here, quietly
            return None
        raise
    finally:
        watcher.cancel()


POST_KINDS = {"/v1/chat/completions": "chat", "/v1/completions": "completion", "/v1/responses": "responses",
              "/v1/embeddings": "embeddings"}


class GatewayApp(Starlette):
    """Starlette, with the four POST endpoints answered ahead of its middleware and router.

    Those layers (error and exception middleware, routing, the Request wrapper and its send
    wrappers) cost ~10% of the gateway's CPU per request, for nothing those endpoints use:
    the gateway shapes its own errors. With CORS on, the same endpoints are reached through
    Starlette's routes (and its CORS middleware); everything else always is."""

    posts: dict[str, Any] | None = None  # path -> ASGI endpoint, set by create_app when CORS is off
    lane: Lane | None = None  # the same endpoints for GatewayHttpProtocol (fast_lane.py), when CORS is off

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self.posts is not None and scope["type"] == "http" and scope["method"] == "POST":
            endpoint = self.posts.get(scope["path"])
            if endpoint is not None:
                return await endpoint(scope, receive, send)
        await super().__call__(scope, receive, send)


class _PostEndpoint:
    """The ASGI endpoint of one POST path (a class, so Starlette's Route calls it as ASGI)."""

    __slots__ = ("answer", "kind")

    def __init__(self, answer: Any, kind: str) -> None:
        self.answer = answer
        self.kind = kind

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.answer(self.kind, scope, receive, send)


async def _send_stream(send: Any, events: Any, headers: dict[str, str]) -> None:
    """A streamed answer (server-sent events), each event written as it comes. Starlette's
    StreamingResponse would do the same inside an anyio task group watching for the client
    going away: ~40 ms of anyio import on the first stream after start, and a task group per
    stream; here the caller's one disconnect watcher (_cancel_on_disconnect) does that job."""
    raw = [(b"content-type", b"text/event-stream; charset=utf-8"), *_raw_headers(headers)]
    try:
        await send({"type": "http.response.start", "status": 200, "headers": raw})
        async for event in events:
            await send({"type": "http.response.body", "body": event.encode("utf-8"), "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        await events.aclose()  # cancelled mid-stream (client gone): the generation stops, its row says 499


async def _send_json(send: Any, status: int, body: dict[str, Any], headers: dict[str, str] | None) -> None:
    data = json_bytes.dumps(body)
    raw = [(b"content-length", str(len(data)).encode()), (b"content-type", b"application/json"), *_raw_headers(headers)]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": data})


def _cors(config: GatewayConfig) -> list[Middleware]:
    """CORS is off unless `cors.allow_origins` lists origins (browsers may then call it)."""
    if not config.cors.allow_origins:
        return []
    return [Middleware(CORSMiddleware, allow_origins=list(config.cors.allow_origins), allow_methods=["GET", "POST"],
                       allow_headers=["authorization", "content-type", "x-request-id", "x-llmreg-env",
                                      "x-llmreg-caller"],
                       expose_headers=["x-request-id", "x-llmreg-version", "x-llmreg-env", "x-llmreg-stage",
                                       "x-llmreg-variant", "x-llmreg-experiment"])]


def create_app(config: GatewayConfig, *, registry: Any = None, gateway: Gateway | None = None) -> Starlette:
    """The gateway app; opens the registry at config.store_url unless one is given."""
    if gateway is None:
        if registry is None:
            from llmreg.registry.api import Registry

            registry = Registry.open(config.store_url)
        try:
            from llmreg.serving.startup_check import check_store

            log.info("%s", check_store(registry, config.checkpoints))  # refuses a store that fails its checkpoint
            gateway = Gateway(config, registry)
        except BaseException:
            registry.close()  # a refused config leaves nothing open
            raise

    running: list[asyncio.AbstractEventLoop | None] = [None]  # the serving loop, while the lifespan runs

    async def answer_post(kind: str, scope: Any, receive: Any, send: Any) -> None:
        """POST /v1/chat/completions, /v1/completions, /v1/responses and /v1/embeddings. A client
        that hangs up cancels the work (the call is logged as 499) and gets no answer."""
        chunks = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # gone before its body arrived
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        loop = running[0] or asyncio.get_running_loop()
        try:
            outcome = await _cancel_on_disconnect(receive, gateway.handle(kind, b"".join(chunks), Headers(scope=scope)),
                                                  loop)
        except Exception:  # a bug, not a refusal (those are outcomes): say so in the API's shape
            log.exception("gateway: unhandled error answering POST %s", scope["path"])
            error = unhandled_error()
            await _send_json(send, error.status, error.body(), None)
            return
        if outcome is None:
            return  # client gone: nobody reads an answer
        send = one_write(send)
        if outcome.stream is not None and outcome.status == 200:
            await _cancel_on_disconnect(receive, _send_stream(send, outcome.stream, outcome.headers), loop)
            return
        await _send_json(send, outcome.status, outcome.body, outcome.headers)

    def authorized(request: Request) -> Response | None:
        try:
            gateway.auth.authenticate(request.headers)
        except ApiError as exc:
            return _json(exc.status, exc.body())
        return None

    async def models(request: Request) -> Response:
        refused = authorized(request)
        if refused is not None:
            return refused
        data = await asyncio.to_thread(gateway.models)
        return _json(200, {"object": "list", "data": data})

    async def model(request: Request) -> Response:
        refused = authorized(request)
        if refused is not None:
            return refused
        try:
            body = await gateway.model(request.path_params["model"], request.headers.get(ENV_HEADER))
        except ApiError as exc:
            return _json(exc.status, exc.body())
        return _json(200, body)

    async def health(request: Request) -> Response:
        routes = gateway.routes
        return _json(200, {"status": "ok", "replica": REPLICA, "registry_seq": routes.seq, "routes": len(routes.known()),
                           "call_log": {"written": gateway.call_log.written,
                                        "failed_batches": gateway.call_log.failed_batches},
                           "backends": gateway.limits.snapshot(), "auth": "keys" if gateway.auth.required else "open",
                           "time": time.time()})

    async def version(request: Request) -> Response:
        return _json(200, {"llmreg": LLMREG_VERSION, "registry_seq": gateway.routes.seq,
                           "api": "openai-compatible: chat.completions, completions, responses (text), models"})

    async def metrics(request: Request) -> Response:
        return Response(gateway.metrics.render(), media_type=gateway.metrics.content_type)

    async def http_error(request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 404:
            error = ApiError(404, f"no route {request.method} {request.url.path}; the gateway serves "
                                  "/v1/chat/completions, /v1/completions, /v1/responses, /v1/embeddings and /v1/models", code="unknown_url")
        elif exc.status_code == 405:
            error = ApiError(405, f"method {request.method} is not allowed on {request.url.path}",
                             code="method_not_allowed")
        else:
            error = ApiError(exc.status_code, str(exc.detail), code=None)
        return _json(error.status, error.body())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        gateway.start()
        running[0] = asyncio.get_running_loop()
        # Everything loaded so far (registry, SQLAlchemy, models) lives as long as the process:
        # moving it out of the collector's view keeps full collections from pausing requests.
        gc.freeze()
        try:
            yield
        finally:
            running[0] = None
            await gateway.aclose()

    posts = {path: _PostEndpoint(answer_post, kind) for path, kind in POST_KINDS.items()}
    app = GatewayApp(
        routes=[
            *(Route(path, endpoint, methods=["POST"]) for path, endpoint in posts.items()),
            Route("/v1/models", models, methods=["GET"]),
            Route("/v1/models/{model:path}", model, methods=["GET"]),
            Route("/health", health, methods=["GET"]),
            Route("/healthz", health, methods=["GET"]),
            Route("/version", version, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ],
        exception_handlers={HTTPException: http_error},
        lifespan=lifespan,
        middleware=_cors(config),
    )
    app.state.gateway = gateway
    if not config.cors.allow_origins:
        app.posts = posts
        app.lane = Lane(gateway, POST_KINDS)
    return app


def load_config(store_url: str | None = None, config_path: str | None = None, *,
                prompts_dir: str | None = None) -> GatewayConfig:
    config = GatewayConfig.from_file(config_path) if config_path else GatewayConfig()
    config = config.with_store(store_url)
    if prompts_dir is not None:
        config = config.model_copy(update={"prompts_dir": prompts_dir})
    return config


def run(host: str = "127.0.0.1", port: int = 8080, store_url: str | None = None, *, config_path: str | None = None,
        prompts_dir: str | None = None, artifacts: str | None = None, log_level: str = "info",
        workers: int = 1) -> None:
    """Serve the gateway until interrupted (what `llmreg serve` calls). Blocks.

    store_url: the registry (None: LLMREG_STORE or .llmreg/registry.db); config_path: gateway
    YAML (llmreg/serving/config.py); artifacts: the registry's artifact store root (default as
    Registry.open). SIGINT/SIGTERM shut down gracefully: in-flight requests and shadow
    copies finish and the call log is written out before the process exits.

    workers > 1: that many gateway processes accept on the one port (uvicorn's supervisor
    restarts one that dies). Everything is checked here first, once, so a bad config fails
    with its one-line error instead of N workers failing in a loop; each worker then opens
    its own registry connections, pollers and call log writer, exactly as separate replicas
    do, and /metrics adds up every worker's series (prometheus_client multiprocess mode).
    """
    import uvicorn

    from llmreg.registry.errors import BadInput

    if workers < 1:
        raise BadInput(f"--workers {workers}: give 1 or more processes", field="workers")
    config = load_config(store_url, config_path, prompts_dir=prompts_dir)
    logging.basicConfig(level=getattr(logging, log_level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = _build(config, artifacts)
    gateway = app.state.gateway
    if not gateway.auth.required and not _loopback(host):
        _discard(gateway)
        raise BadInput(f"--host {host}: with no API key (auth.mode {gateway.auth.mode}) the gateway would serve every "
                       "entry to anyone who can reach it; create a key (llmreg api-key create NAME) or bind 127.0.0.1",
                       field="host")
    if workers == 1:
        _tune_process()
        uvicorn.run(app, host=host, port=port, log_level=log_level, **SERVER_OPTIONS)
        return
    _discard(gateway)  # it was built to check the config; each worker builds its own
    metrics_dir, made = _metrics_dir()
    os.environ[WORKER_ENV] = json.dumps({"store_url": config.store_url, "config_path": config_path,
                                         "prompts_dir": prompts_dir, "artifacts": artifacts, "log_level": log_level})
    log.info("gateway: %d worker processes on %s:%d; /metrics adds up all of them (%s=%s)", workers, host, port,
             METRICS_DIR_ENV, metrics_dir)
    try:
        uvicorn.run("llmreg.serving.app:worker_app", factory=True, workers=workers, host=host, port=port,
                    log_level=log_level, **SERVER_OPTIONS)
    finally:
        if made:
            import shutil

            shutil.rmtree(metrics_dir, ignore_errors=True)


def worker_app() -> Starlette:
    """One worker's app (uvicorn calls this in each process `run(workers=N)` starts)."""
    spec = json.loads(os.environ[WORKER_ENV])
    logging.basicConfig(level=getattr(logging, spec["log_level"].upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _tune_process()
    config = load_config(spec["store_url"], spec["config_path"], prompts_dir=spec["prompts_dir"])
    return _build(config, spec["artifacts"])


def _build(config: GatewayConfig, artifacts: str | None) -> Starlette:
    from llmreg.registry.api import Registry

    return create_app(config, registry=Registry.open(config.store_url, artifacts=artifacts))


def _discard(gateway: Gateway) -> None:
    """Release what building a gateway opened (nothing was started: no threads, no sockets)."""
    gateway.auth.stop()
    gateway.registry.close()
    gateway.call_log.engine.dispose()


def _tune_process() -> None:
    # A background thread (call log, pollers, SLO guard) that wants the GIL gets it after the
    # switch interval; 5 ms (the default) showed up whole in the gateway's p99. 0.5 ms bounds it.
    sys.setswitchinterval(0.0005)


def _metrics_dir() -> tuple[str, bool]:
    """The directory the workers' metric files share: the operator's (PROMETHEUS_MULTIPROC_DIR,
    emptied of the last run's files, as prometheus_client requires) or a fresh one removed at exit."""
    import glob
    import tempfile

    path = os.environ.get(METRICS_DIR_ENV)
    if path:
        os.makedirs(path, exist_ok=True)
        for stale in glob.glob(os.path.join(path, "*.db")):
            os.remove(stale)
        return path, False
    path = tempfile.mkdtemp(prefix="llmreg-gateway-metrics-")
    os.environ[METRICS_DIR_ENV] = path
    return path, True


def _loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
