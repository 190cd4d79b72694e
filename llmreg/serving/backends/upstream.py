"""OpenAI-compatible upstream: a vLLM server, a hosted provider, any server speaking /v1.

One pooled aiohttp session per configured upstream, opened on first use inside the
serving event loop. aiohttp rather than httpx on this path: measured in
bench/gateway_bench.py, httpx's connection-pool bookkeeping cost ~2 ms of CPU per call
(the gateway topped out near 400 req/s on 2 cores); aiohttp's is a fraction of that.
Upstream failures come back as OpenAI-shaped gateway errors: 429 passes through (the
client should back off), other refusals and outages become 502/504 naming the upstream.
"""
from __future__ import annotations

import asyncio
import json
import os
from typing import Any, Mapping

import aiohttp

from llmreg.serving.api_errors import ApiError
from llmreg.serving.backends.base import Generation, GenerationRequest


class UpstreamBackend:
    kind = "upstream"

    def __init__(self, name: str, base_url: str, *, api_key: str | None = None, timeout_s: float = 60.0,
                 headers: Mapping[str, str] | None = None, max_connections: int = 256):
        self.name = name
        self.base_url = base_url.rstrip("/")
        self._headers = {"content-type": "application/json", **(headers or {})}
        if api_key:
            self._headers["authorization"] = f"Bearer {api_key}"
        self._timeout = aiohttp.ClientTimeout(total=timeout_s, connect=min(timeout_s, 10.0))
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_config(cls, name: str, config: Any) -> "UpstreamBackend":
        api_key = os.environ.get(config.api_key_env) if config.api_key_env else None
        return cls(name, config.base_url, api_key=api_key, timeout_s=config.timeout_s, headers=config.headers)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._max_connections, keepalive_timeout=30, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(headers=self._headers, timeout=self._timeout, connector=connector,
                                                  json_serialize=json.dumps, auto_decompress=True)
        return self._session

    async def generate(self, request: GenerationRequest) -> Generation:
        if request.kind == "chat":
            url = self.base_url + "/chat/completions"
            body: dict[str, Any] = {"model": request.model, "messages": list(request.messages)}
        else:
            url = self.base_url + "/completions"
            body = {"model": request.model, "prompt": request.prompt}
        body.update(request.params)
        try:
            async with self._client().post(url, data=json.dumps(body, ensure_ascii=False).encode("utf-8")) as response:
                status = response.status
                raw = await response.read()
        except asyncio.TimeoutError:
            raise ApiError(504, f"upstream {self.name!r} ({self.base_url}) timed out", type="server_error",
                           code="upstream_timeout") from None
        except aiohttp.ClientError as exc:
            raise ApiError(502, f"upstream {self.name!r} ({self.base_url}) is unreachable: {type(exc).__name__}",
                           type="server_error", code="upstream_unavailable") from None
        if status >= 400:
            raise _upstream_error(self.name, status, raw)
        try:
            data = json.loads(raw)
            choice = data["choices"][0]
            text = choice["message"]["content"] if request.kind == "chat" else choice["text"]
            usage = data.get("usage") or {}
        except (ValueError, KeyError, IndexError, TypeError):
            raise ApiError(502, f"upstream {self.name!r} returned a malformed completion (HTTP {status})",
                           type="server_error", code="upstream_malformed") from None
        return Generation(
            text=text or "",
            finish_reason=choice.get("finish_reason") or "stop",
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _upstream_error(name: str, status: int, raw: bytes) -> ApiError:
    try:
        detail = json.loads(raw)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        detail = raw[:200].decode("utf-8", "replace")
    message = f"upstream {name!r} answered HTTP {status}: {detail}"
    if status == 429:
        return ApiError(429, message, type="rate_limit_error", code="upstream_rate_limited")
    return ApiError(502, message, type="server_error", code="upstream_error" if status >= 500 else "upstream_rejected")
