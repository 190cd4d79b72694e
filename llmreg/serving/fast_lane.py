"""uvicorn's HTTP protocol with a fast lane for the gateway's four POST endpoints.

uvicorn stays the server (sockets, workers, signals, graceful shutdown, keep-alive, flow
control, pipelining, every other route through the ASGI app). What changes is how a POST to
/v1/chat/completions, /v1/completions, /v1/responses or /v1/embeddings is answered once its
body is in: `Gateway.handle` runs in the request's task straight from the parser, and the
answer is written to the transport in one write, without an ASGI scope, the receive/send
message dicts, a RequestResponseCycle with its asyncio.Event, the per-response header
validation loop or a second task watching for the client to hang up (connection_lost
cancels the request's task instead). Those layers were 13-17% of the gateway's CPU per
request, and on a busy host every microsecond of it queues the requests behind.

The lane is taken only where nothing is lost by skipping ASGI: HTTP/1.1, no
`Expect: 100-continue`, no concurrency limit, not pipelined behind an unfinished answer, and
an app built by `create_app` with CORS off (`GatewayApp.lane` set). Anything else goes the
ASGI way, unchanged. The answers are byte for byte what the ASGI path writes
(tests/serving/test_serving_fast_lane.py compares them). The class leans on uvicorn's
protocol internals, so pyproject.toml bounds uvicorn to the releases those tests passed on.
"""
from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from llmreg.serving import json_bytes
from llmreg.serving.api_errors import unhandled_error

log = logging.getLogger("llmreg.gateway")

# uvicorn's HEADER_VALUE_RE: no control character (CR, LF above all) in a header value
_BAD_VALUE = re.compile("[\x00-\x08\x0a-\x1f\x7f]")


class Lane:
    """What the lane needs from the app: its gateway and which raw paths it answers."""

    __slots__ = ("gateway", "kinds")

    def __init__(self, gateway: Any, kinds: Mapping[str, str]) -> None:
        self.gateway = gateway
        self.kinds = {path.encode("ascii"): kind for path, kind in kinds.items()}


class _Cycle:
    """One fast-lane request: the parts of uvicorn's RequestResponseCycle its protocol reads
    (`response_complete`, `keep_alive`, `disconnected`), plus the body and the task."""

    __slots__ = ("kind", "headers", "body", "keep_alive", "started", "response_complete", "disconnected", "task")

    def __init__(self, kind: str, headers: dict[str, str], keep_alive: bool) -> None:
        self.kind = kind
        self.headers = headers
        self.body: list[bytes] = []
        self.keep_alive = keep_alive
        self.started = False  # some of the answer is written
        self.response_complete = False
        self.disconnected = False
        self.task: asyncio.Task | None = None


_defaults: list[Any] = [None, b""]  # uvicorn's default headers (a new list each second) and their lines


def _default_lines(default_headers: list[tuple[bytes, bytes]]) -> bytes:
    if default_headers is not _defaults[0]:
        _defaults[:] = [default_headers, b"".join(b"%s: %s\r\n" % pair for pair in default_headers)]
    return _defaults[1]


def _header_dict(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """Lower-case names (uvicorn lowers them) to latin-1 values; the first of repeated names
    wins, as Starlette's Headers.get returns it."""
    out: dict[str, str] = {}
    for name, value in raw:
        key = name.decode("latin-1")
        if key not in out:
            out[key] = value.decode("latin-1")
    return out


class GatewayHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol; see the module docstring for the lane it adds."""

    lane_cycle: _Cycle | None = None  # the fast-lane request being answered on this connection

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Only an app create_app built, unwrapped (uvicorn adds middleware for proxy headers and
        # trace logging): those would be skipped by the lane, so with them it stays closed.
        self.lane: Lane | None = getattr(self.app, "lane", None)

    def on_message_begin(self) -> None:
        # uvicorn's builds the ASGI scope here; the lane needs none, so it is built only when
        # the request goes the ASGI way (_to_asgi).
        self.url = b""
        self.expect_100_continue = False
        self.headers = []

    def _to_asgi(self) -> None:
        url, headers, expect = self.url, self.headers, self.expect_100_continue
        super().on_message_begin()  # the scope, around the request line and headers already parsed
        self.url, self.expect_100_continue = url, expect
        self.headers = self.scope["headers"] = headers
        super().on_headers_complete()

    def on_headers_complete(self) -> None:
        lane = self.lane
        cycle = self.cycle
        if (lane is None or self.expect_100_continue or self.limit_concurrency is not None
                or (cycle is not None and not cycle.response_complete)
                or self.parser.get_method() != b"POST" or self.parser.get_http_version() != "1.1"):
            return self._to_asgi()
        kind = lane.kinds.get(self.url)  # the exact path: a query string or an escape goes the ASGI way
        if kind is None:
            return self._to_asgi()
        self.cycle = _Cycle(kind, _header_dict(self.headers), self.parser.should_keep_alive())

    def on_body(self, body: bytes) -> None:
        cycle = self.cycle
        if type(cycle) is not _Cycle:
            return super().on_body(body)
        cycle.body.append(body)

    def on_message_complete(self) -> None:
        cycle = self.cycle
        if type(cycle) is not _Cycle:
            return super().on_message_complete()
        # Reading goes on, so a client that hangs up is noticed (connection_lost); a request
        # pipelined behind this one becomes uvicorn's cycle and waits in its pipeline.
        self.lane_cycle = cycle
        task = cycle.task = self.loop.create_task(self._answer(cycle))
        task.add_done_callback(self.tasks.discard)
        self.tasks.add(task)

    def connection_lost(self, exc: Exception | None) -> None:
        if type(self.cycle) is _Cycle:
            self.cycle = None  # uvicorn's cleanup below is for its own cycles
        cycle, self.lane_cycle = self.lane_cycle, None
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True
            if cycle.task is not None and not cycle.task.done():
                cycle.task.cancel()  # the generation stops; the call is logged as 499
        super().connection_lost(exc)

    async def _answer(self, cycle: _Cycle) -> None:
        lane = self.lane
        try:
            outcome = await lane.gateway.handle(cycle.kind, b"".join(cycle.body), cycle.headers)
            if cycle.disconnected:
                return  # nobody reads an answer
            if outcome.stream is not None and outcome.status == 200:
                await self._write_stream(cycle, outcome.stream, outcome.headers)
            else:
                self._write_whole(cycle, outcome.status, json_bytes.dumps(outcome.body), outcome.headers)
        except asyncio.CancelledError:
            if cycle.disconnected:
                return  # our own cancel (connection_lost): the request ends here, quietly
            raise
        except Exception:  # a bug, not a refusal (those are outcomes): say so in the API's shape
            log.exception("gateway: unhandled error answering a %s request", cycle.kind)  # self.url may be the next one's
            if cycle.started:
                self.transport.close()  # half an answer is out: the client must not take it for whole
            else:
                error = unhandled_error()
                self._write_whole(cycle, error.status, json_bytes.dumps(error.body()), None)

    def _head(self, cycle: _Cycle, status: int, first: bytes, headers: dict[str, str] | None,
              last: bytes = b"") -> bytes:
        """The status line and headers in the order uvicorn writes them: its own (date, server),
        the answer's, `connection: close` when the connection ends, then transfer-encoding."""
        parts = [STATUS_LINE[status], _default_lines(self.server_state.default_headers), first]
        if headers:
            if _BAD_VALUE.search("\t".join(headers.values())):  # uvicorn refuses them too: none may split the answer
                raise RuntimeError("Invalid HTTP header value.")
            parts.append("".join(f"{k.lower()}: {v}\r\n" for k, v in headers.items()).encode("latin-1"))
        if not cycle.keep_alive:
            parts.append(b"connection: close\r\n")
        parts.append(last)
        parts.append(b"\r\n")
        return b"".join(parts)

    def _write_whole(self, cycle: _Cycle, status: int, body: bytes, headers: dict[str, str] | None) -> None:
        lines = b"content-length: %d\r\ncontent-type: application/json\r\n" % len(body)
        self.transport.write(self._head(cycle, status, lines, headers) + body)
        cycle.started = True
        self._complete(cycle)

    async def _write_stream(self, cycle: _Cycle, events: Any, headers: dict[str, str]) -> None:
        pending = self._head(cycle, 200, b"content-type: text/event-stream; charset=utf-8\r\n", headers,
                             b"transfer-encoding: chunked\r\n")  # the head goes out with the first event
        flow = self.flow
        try:
            async for event in events:
                data = event.encode("utf-8")
                if flow.write_paused:
                    await flow.drain()
                if cycle.disconnected:
                    return
                self.transport.write(pending + b"%x\r\n%s\r\n" % (len(data), data))
                pending = b""
                cycle.started = True
            self.transport.write(pending + b"0\r\n\r\n")
        finally:
            await events.aclose()  # cancelled mid-stream (client gone): the generation stops, its row says 499
        self._complete(cycle)

    def _complete(self, cycle: _Cycle) -> None:
        cycle.response_complete = True
        self.lane_cycle = None
        if not cycle.keep_alive:
            self.transport.close()
        self.on_response_complete()  # uvicorn's: counts it, resumes reading, arms keep-alive or starts the next
