"""OpenAI-compatible upstream: a vLLM server, a hosted provider, any server speaking /v1.

One pool of keep-alive connections per configured upstream (backends/http_client.py),
opened on first use inside the serving event loop. Not httpx (its pool bookkeeping cost
~2 ms of CPU per call here) nor aiohttp (~117 us per call, a fifth of the gateway's CPU
per request): the upstream path is one origin and POST only, and a small client over
httptools does it in ~11 us (bench/README.md).

The body is `generation.openai_body` of the request's canonical params (n, stop, seed,
logprobs, response_format, tools from the entry's tools_ref, ...): what the upstream
supports is forwarded, and its choices come back intact (tool_calls, logprobs). Streams
are passed through chunk by chunk (SSE). Failures come back OpenAI-shaped: a 4xx the
request caused (context length, bad parameter) stays a 4xx with the upstream's message
(the caller's error, never counted against the version), 429 passes through with its
Retry-After, 5xx and outages become 502/504 naming the upstream. Outages and 5xx are
retried first (before any byte reached the client) with the project's one retry policy
(llmreg.registry.retry_policy, tenacity, the one the evals' OpenAI runner uses).
"""
from __future__ import annotations

import asyncio
import json
import os
from typing import Any, AsyncIterator, Mapping

from llmreg.registry.generation import openai_body
from llmreg.registry.retry_policy import RetryPolicy, async_retrying
from llmreg.serving import json_bytes
from llmreg.serving.api_errors import ApiError
from llmreg.serving.backends.base import Generation, GenerationRequest, StreamPart
from llmreg.serving.backends.http_client import HttpClient, UpstreamUnreachable


class UpstreamBackend:
    kind = "upstream"
    max_context = None  # the upstream checks its own context length (its 400 passes through)

    def __init__(self, name: str, base_url: str, *, api_key: str | None = None, timeout_s: float = 60.0,
                 headers: Mapping[str, str] | None = None, max_connections: int = 256,
                 retry: RetryPolicy | None = None, max_tokens_field: str = "max_tokens"):
        self.name = name
        self.base_url = base_url.rstrip("/")
        self._headers = {"content-type": "application/json", **(headers or {})}
        if api_key:
            self._headers["authorization"] = f"Bearer {api_key}"
        self._timeout_s = timeout_s
        self._max_connections = max_connections
        self._http: HttpClient | None = None
        self.retry = retry or RetryPolicy(max_retries=1, backoff_s=0.1, backoff_max_s=1.0)
        self.max_tokens_field = max_tokens_field

    @classmethod
    def from_config(cls, name: str, config: Any) -> "UpstreamBackend":
        api_key = os.environ.get(config.api_key_env) if config.api_key_env else None
        return cls(name, config.base_url, api_key=api_key, timeout_s=config.timeout_s, headers=config.headers,
                   retry=RetryPolicy(max_retries=config.max_retries, backoff_s=config.backoff_s,
                                     backoff_max_s=max(config.backoff_s, 1.0)),
                   max_tokens_field=config.max_tokens_field)

    def _client(self) -> HttpClient:
        # No cookie jar and no redirects: a cookie an upstream sets answering one caller must
        # never ride on another caller's request, and a request goes to the configured origin only.
        if self._http is None:
            self._http = HttpClient(self.base_url, headers=self._headers, timeout_s=self._timeout_s,
                                    connect_timeout_s=10.0, max_connections=self._max_connections)
        return self._http

    def _request(self, request: GenerationRequest, *, stream: bool) -> tuple[str, dict[str, Any]]:
        params = openai_body(request.params, request.tools)
        if request.kind == "chat":
            path = "/chat/completions"
            body: dict[str, Any] = {"model": request.model, "messages": [dict(m) for m in request.messages]}
            if self.max_tokens_field != "max_tokens" and "max_tokens" in params:
                params[self.max_tokens_field] = params.pop("max_tokens")
        else:
            path = "/completions"
            body = {"model": request.model, "prompt": request.prompt}
            # the legacy completions API spells "logprobs: true, top_logprobs: k" as "logprobs: k"
            if params.pop("logprobs", None):
                params["logprobs"] = int(params.pop("top_logprobs", 0) or 0)
            params.pop("top_logprobs", None)
            params.pop("tools", None)
        body.update(params)
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return path, body

    def _encode(self, body: dict[str, Any], request_id: str) -> tuple[bytes, dict[str, str] | None]:
        return (json_bytes.dumps(body),
                {"x-request-id": request_id} if request_id else None)

    async def _attempt(self, path: str, body: dict[str, Any], request_id: str) -> tuple[int, bytes]:
        data, headers = self._encode(body, request_id)
        try:
            status, answer_headers, raw = await self._client().post(path, data, headers)
        except TimeoutError:
            raise self._timeout_error() from None
        except UpstreamUnreachable as exc:
            raise self._unreachable(exc) from None
        if status >= 400:
            raise _upstream_error(self.name, status, raw, answer_headers.get("retry-after"))
        return status, raw

    async def _with_retries(self, attempt: Any, *args: Any) -> Any:
        """The first attempt directly (tenacity costs ~40 us a call, paid only once one failed);
        the remaining attempts under the shared policy, with the same backoff sequence."""
        try:
            return await attempt(*args)
        except ApiError as exc:
            if self.retry.max_retries == 0 or not _retryable(exc):
                raise
        await asyncio.sleep(self.retry.delay(0))
        rest = RetryPolicy(max_retries=self.retry.max_retries - 1, backoff_s=self.retry.backoff_s * 2,
                           backoff_max_s=self.retry.backoff_max_s)
        return await async_retrying(rest, _retryable)(attempt, *args)

    async def generate(self, request: GenerationRequest) -> Generation:
        path, body = self._request(request, stream=False)
        status, raw = await self._with_retries(self._attempt, path, body, request.request_id)
        try:
            data = json_bytes.loads(raw)
            choices = tuple(data["choices"])
            for choice in choices:
                if request.kind == "chat":
                    choice["message"]["content"]  # noqa: B018 - shape check
                else:
                    choice["text"]  # noqa: B018
            usage = data.get("usage") or {}
        except (ValueError, KeyError, IndexError, TypeError):
            raise ApiError(502, f"upstream {self.name!r} returned a malformed completion (HTTP {status})",
                           type="server_error", code="upstream_malformed") from None
        return Generation(choices, prompt_tokens=usage.get("prompt_tokens"),
                          completion_tokens=usage.get("completion_tokens"),
                          system_fingerprint=data.get("system_fingerprint"))

    async def embed(self, model: str, value: Any, options: dict[str, Any], request_id: str = "") -> dict[str, Any]:
        """POST /embeddings, the answer's `data` and `usage` intact."""
        body = {"model": model, "input": value, **options}
        _, raw = await self._with_retries(self._attempt, "/embeddings", body, request_id)
        try:
            data = json_bytes.loads(raw)
            data["data"][0]["embedding"]  # noqa: B018 - shape check
        except (ValueError, KeyError, IndexError, TypeError):
            raise ApiError(502, f"upstream {self.name!r} returned malformed embeddings", type="server_error",
                           code="upstream_malformed") from None
        return data

    async def stream(self, request: GenerationRequest) -> AsyncIterator[StreamPart]:
        path, body = self._request(request, stream=True)
        data, headers = self._encode(body, request.request_id)
        try:
            answer = await self._client().send(path, data, headers)
            try:
                if answer.status >= 400:
                    raise _upstream_error(self.name, answer.status, await answer.read(),
                                          answer.headers.get("retry-after"))
                buffer = b""
                async for chunk in answer.chunks():
                    buffer += chunk
                    while b"\n\n" in buffer:
                        event, buffer = buffer.split(b"\n\n", 1)
                        part = self._event(event)
                        if part is _DONE:
                            return
                        if part is not None:
                            yield part
            finally:
                answer.release()
        except TimeoutError:
            raise self._timeout_error() from None
        except UpstreamUnreachable as exc:
            raise self._unreachable(exc) from None

    def _event(self, event: bytes) -> Any:
        payload = b"".join(line[5:].strip() for line in event.split(b"\n") if line.startswith(b"data:"))
        if not payload:
            return None
        if payload == b"[DONE]":
            return _DONE
        try:
            chunk = json_bytes.loads(payload)
        except ValueError:
            raise ApiError(502, f"upstream {self.name!r} sent a malformed stream event", type="server_error",
                           code="upstream_malformed") from None
        if "error" in chunk:
            raise ApiError(502, f"upstream {self.name!r} failed mid-stream: {chunk['error']}", type="server_error",
                           code="upstream_error")
        return StreamPart(tuple(chunk.get("choices") or ()), usage=chunk.get("usage"))

    def _timeout_error(self) -> ApiError:
        return ApiError(504, f"upstream {self.name!r} ({self.base_url}) timed out", type="server_error",
                        code="upstream_timeout")

    def _unreachable(self, exc: Exception) -> ApiError:
        return ApiError(502, f"upstream {self.name!r} ({self.base_url}): {exc}",
                        type="server_error", code="upstream_unavailable")

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None


_DONE = object()


def _retryable(exc: BaseException) -> bool:
    """Outages and the upstream's 5xx: another attempt may succeed. Never a 4xx or a 429."""
    return isinstance(exc, ApiError) and exc.status in (502, 504)


def _upstream_error(name: str, status: int, raw: bytes, retry_after: str | None = None) -> ApiError:
    param = code = None
    try:
        error = json.loads(raw)["error"]
        detail = error["message"]
        param = error.get("param") if isinstance(error.get("param"), str) else None
        code = error.get("code") if isinstance(error.get("code"), str) else None  # vLLM sends the status number
    except (ValueError, KeyError, TypeError):
        detail = raw[:200].decode("utf-8", "replace")
    message = f"upstream {name!r} answered HTTP {status}: {detail}"
    if status == 429:
        error = ApiError(429, message, type="rate_limit_error", code="upstream_rate_limited")
        if retry_after:
            error.headers["retry-after"] = retry_after
        return error
    if status in CALLER_FAULT:  # the request's fault (too long, bad parameter): the caller's error
        return ApiError(status, message, param=param, code=code or "upstream_rejected")
    # 5xx, and 401/403/404 (the gateway's key or model mapping is wrong): the server side's fault
    return ApiError(502, message, type="server_error", code="upstream_error" if status >= 500 else "upstream_refused")


CALLER_FAULT = (400, 409, 413, 422)
