"""A small keep-alive HTTP/1.1 client for one upstream origin (POST JSON, read or stream the answer).

Why not aiohttp: on the gateway's path it cost ~117 us of CPU per call against ~11 us for
the same exchange over an asyncio protocol parsed by httptools (/tmp-free figures in
bench/README.md, "gateway CPU per request"), a fifth of the gateway's whole budget. The
upstream path needs little of a general client: one origin, POST, no cookies, no redirects,
no proxies. What it does need is kept here:
- a pool of keep-alive connections, at most `max_connections` open at once (callers past
  that wait for one), idle ones closed after `keepalive_s`;
- http and https (the system's CA store, SNI, hostname checked);
- bodies by content-length, chunked or read-to-close (httptools does the parsing), gzip
  and deflate decoded though `accept-encoding: identity` is asked for;
- a deadline for the whole exchange (connect included, stream included) and a shorter
  one for connecting;
- a request sent on a reused connection that the server had closed meanwhile (nothing
  came back) goes again once on a new connection, as every pooling client does;
- streams handed out chunk by chunk with back-pressure (reading pauses while 256 KiB wait
  unread); a stream left early closes its connection rather than pool a half-read one.
Failures raise `UpstreamUnreachable` (connect, reset, malformed answer) or
`asyncio.TimeoutError`; HTTP error statuses are answers, returned like any other.
"""
from __future__ import annotations

import asyncio
import collections
import ssl
import time
import zlib
from typing import AsyncIterator, Mapping
from urllib.parse import urlsplit

import httptools

_PAUSE_AT = 256 * 1024


class UpstreamUnreachable(Exception):
    """The exchange failed below HTTP: no connection, a reset, a malformed or cut answer."""


class _Exchange(asyncio.Protocol):
    """One connection; it carries one request/response at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.holds_slot = True  # counted in the client's open connections until dropped
        self.idle_since = 0.0
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self.chunks: collections.deque[bytes] = collections.deque()
        self.buffered = 0
        self.complete = False
        self.keep_alive = False  # read at headers and at the end: httptools forgets it once a message is done
        self.received_any = False
        self.error: BaseException | None = None
        self.headers_done: asyncio.Future | None = None
        self.waiter: asyncio.Future | None = None
        self.paused = False

    def begin(self, request: bytes) -> None:
        self._reset()
        self.headers_done = self.loop.create_future()
        self.transport.write(request)  # type: ignore[union-attr]

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.received_any = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(UpstreamUnreachable("the upstream switched protocols"))
        except httptools.HttpParserError as exc:
            self._fail(UpstreamUnreachable(f"malformed HTTP answer ({exc})"))

    def eof_received(self) -> bool | None:
        return None  # close the transport; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.complete or self.error is not None:
            return
        if self.status and not self.keep_alive and "content-length" not in self.headers \
                and "transfer-encoding" not in self.headers:
            self.complete = True  # a body delimited by the close
            self._wake()
            return
        self._fail(UpstreamUnreachable("the upstream closed the connection" + (f" ({exc})" if exc else "")))

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.keep_alive = self.parser.should_keep_alive()
        if self.headers_done is not None and not self.headers_done.done():
            self.headers_done.set_result(None)

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)
        self.buffered += len(body)
        if self.buffered > _PAUSE_AT and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        self.keep_alive = self.parser.should_keep_alive()
        self.complete = True
        self._wake()

    def expire(self) -> None:
        """The exchange's deadline passed before its answer's headers came: give up the connection."""
        if self.headers_done is not None and not self.headers_done.done():
            self._fail(TimeoutError("no answer within the deadline"))

    def _fail(self, error: BaseException) -> None:
        self.error = error
        if self.headers_done is not None and not self.headers_done.done():
            self.headers_done.set_exception(error)
        self._wake()
        if self.transport is not None:
            self.transport.close()

    def _wake(self) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # reading the body
    def take(self) -> bytes:
        data = b"".join(self.chunks)
        self.chunks.clear()
        self.buffered = 0
        if self.paused and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()
        return data

    async def more(self) -> None:
        """Wait until body bytes, the end of the message or an error arrive."""
        self.waiter = self.loop.create_future()
        await self.waiter

    def reusable(self) -> bool:
        return self.complete and self.error is None and not self.closed and self.keep_alive

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class Answer:
    """An upstream's answer: status, lower-cased headers, and the body (read() or chunks())."""

    def __init__(self, client: "HttpClient", conn: _Exchange, deadline: float) -> None:
        self.status = conn.status
        self.headers: Mapping[str, str] = conn.headers
        self._client = client
        self._conn: _Exchange | None = conn
        self._deadline = deadline
        encoding = conn.headers.get("content-encoding", "identity").lower()
        self._decoder = None if encoding in ("identity", "") else _decoder(encoding)

    async def read(self) -> bytes:
        conn = self._conn
        if conn is not None and conn.complete and conn.error is None and self._decoder is None:
            data = conn.take()  # all there already (a small answer comes with its headers): no stream to drive
            self.release()
            return data
        parts = [part async for part in self.chunks()]
        return b"".join(parts)

    async def chunks(self) -> AsyncIterator[bytes]:
        conn = self._conn
        if conn is None:
            return
        try:
            while True:
                if not (conn.chunks or conn.complete or conn.error is not None):
                    async with asyncio.timeout_at(self._deadline):  # the exchange's one deadline
                        await conn.more()
                if conn.chunks:
                    data = conn.take()
                    yield self._decode(data) if self._decoder is not None else data
                    continue
                if conn.error is not None:
                    raise conn.error
                if conn.complete:
                    if self._decoder is not None:
                        tail = self._decode(None)
                        if tail:
                            yield tail
                    return
        finally:
            self.release()

    def _decode(self, data: bytes | None) -> bytes:
        decoder = self._decoder
        try:
            if data is not None:
                return decoder.decompress(data)  # type: ignore[union-attr]
            tail = decoder.flush()  # type: ignore[union-attr]
        except zlib.error as exc:
            raise UpstreamUnreachable(f"the upstream's compressed body is corrupt ({exc})") from None
        if not decoder.eof:  # type: ignore[union-attr]
            raise UpstreamUnreachable("the upstream's compressed body is corrupt (it ends before its stream does)")
        return tail

    def release(self) -> None:
        """Hand the connection back (a fully read, keep-alive one) or close it."""
        conn, self._conn = self._conn, None
        if conn is not None:
            self._client._release(conn)


def _decoder(encoding: str):
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.decompressobj()
    raise UpstreamUnreachable(f"the upstream answered with content-encoding {encoding!r}, which the gateway "
                              "did not ask for and cannot decode")


class HttpClient:
    """Keep-alive HTTP/1.1 to one origin (scheme://host:port); paths are appended to its base path."""

    def __init__(self, base_url: str, *, headers: Mapping[str, str] | None = None, timeout_s: float = 60.0,
                 connect_timeout_s: float = 10.0, max_connections: int = 256, keepalive_s: float = 30.0,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"upstream base_url {base_url!r}: expected http://host[:port][/path] or https://...")
        self.secure = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.secure else 80)
        self.base_path = parts.path.rstrip("/")
        default_port = self.port == (443 if self.secure else 80)
        host = f"[{self.host}]" if ":" in self.host else self.host
        self._host_header = host if default_port else f"{host}:{self.port}"
        fixed = {"accept-encoding": "identity", **{k.lower(): v for k, v in (headers or {}).items()}}
        fixed.pop("host", None)
        fixed.pop("content-length", None)
        self._fixed = _header_lines(fixed)
        self.timeout_s = timeout_s
        self.connect_timeout_s = min(connect_timeout_s, timeout_s)
        self.keepalive_s = keepalive_s
        self.max_connections = max_connections
        self._ssl = (ssl_context or ssl.create_default_context()) if self.secure else None
        self._idle: collections.deque[_Exchange] = collections.deque()
        self._open = 0
        self._waiters: collections.deque[asyncio.Future] = collections.deque()
        self._closed = False

    def _request_bytes(self, path: str, body: bytes, headers: Mapping[str, str] | None) -> bytes:
        extra = _header_lines(headers) if headers else ""
        head = (f"POST {self.base_path}{path} HTTP/1.1\r\nhost: {self._host_header}\r\n{self._fixed}{extra}"
                f"content-length: {len(body)}\r\n\r\n")
        return head.encode("latin-1") + body

    async def post(self, path: str, body: bytes,
                   headers: Mapping[str, str] | None = None) -> tuple[int, Mapping[str, str], bytes]:
        """(status, headers, body) of a POST; the whole exchange within timeout_s."""
        answer = await self.send(path, body, headers)
        return answer.status, answer.headers, await answer.read()

    async def send(self, path: str, body: bytes, headers: Mapping[str, str] | None = None) -> Answer:
        """POST and return once the answer's headers arrived; read its body with `read()` or
        `chunks()` (the same timeout_s deadline, counted from now, covers the body too) or
        give the connection up with `release()`."""
        request = self._request_bytes(path, body, headers)
        conn = self._take_idle()
        if conn is not None:  # the common case: a kept-alive connection, no wait to get it
            deadline = conn.loop.time() + self.timeout_s
            conn = await self._exchange_on(conn, request, deadline)
        else:  # connecting, or waiting for a free connection: all of it within the deadline
            deadline = asyncio.get_running_loop().time() + self.timeout_s
            async with asyncio.timeout_at(deadline):
                conn = await self._exchange(request)
        try:
            return Answer(self, conn, deadline)
        except BaseException:
            self._drop(conn)
            raise

    async def _exchange_on(self, conn: _Exchange, request: bytes, deadline: float) -> _Exchange:
        """`_exchange` on an idle connection already taken. The deadline is a timer that fails the
        connection (TimeoutError, as asyncio.timeout raises) rather than an asyncio.timeout
        block, which costs three running-loop lookups (each a getpid() system call on 3.11)."""
        timer = conn.loop.call_at(deadline, conn.expire)
        try:
            return await self._answered(conn, request)
        except UpstreamUnreachable:
            if conn.received_any:
                raise
        finally:
            timer.cancel()
        async with asyncio.timeout_at(deadline):
            return await self._again(request)

    async def _exchange(self, request: bytes) -> _Exchange:
        conn, reused = await self._acquire()
        try:
            return await self._answered(conn, request)
        except UpstreamUnreachable:
            if not reused or conn.received_any:
                raise
        return await self._again(request)

    async def _again(self, request: bytes) -> _Exchange:
        """The server closed an idle connection as it was reused, before answering anything:
        send the request once more, on a new connection."""
        conn, _ = await self._acquire(fresh=True)
        return await self._answered(conn, request)

    async def _answered(self, conn: _Exchange, request: bytes) -> _Exchange:
        """Send `request` on `conn` and wait for the answer's headers; a failed connection is dropped."""
        try:
            conn.begin(request)
            await conn.headers_done  # type: ignore[misc]
            return conn
        except BaseException:
            self._drop(conn)
            raise

    async def _acquire(self, fresh: bool = False) -> tuple[_Exchange, bool]:
        """(connection, reused): an idle one unless `fresh`, else a new one within max_connections."""
        while True:
            if self._closed:
                raise UpstreamUnreachable("the client is closed")
            if not fresh:
                conn = self._take_idle()
                if conn is not None:
                    return conn, True
            if self._open < self.max_connections:
                break
            if self._idle:  # full, yet idle ones and a fresh one wanted (defensive): retire the oldest
                self._drop(self._idle[0])
                continue
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self._wake_one()  # pass the wake-up on
                raise
        self._open += 1
        try:
            return await self._connect(), False
        except BaseException:
            self._open -= 1
            self._wake_one()
            raise

    def _take_idle(self) -> _Exchange | None:
        now = time.monotonic()
        while self._idle:
            conn = self._idle.pop()  # most recently used first: the likeliest to be alive
            if not conn.closed and now - conn.idle_since < self.keepalive_s:
                return conn
            self._drop(conn)
        return None

    async def _connect(self) -> _Exchange:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                _, conn = await loop.create_connection(
                    lambda: _Exchange(loop), self.host, self.port, ssl=self._ssl,
                    server_hostname=self.host if self._ssl is not None else None)
        except OSError as exc:
            raise UpstreamUnreachable(f"cannot connect to {self.host}:{self.port}: {exc}") from None
        return conn

    def _release(self, conn: _Exchange) -> None:
        if conn.reusable() and not self._closed:
            conn.idle_since = time.monotonic()
            self._idle.append(conn)
            self._wake_one()
        else:
            self._drop(conn)

    def _drop(self, conn: _Exchange) -> None:
        if conn in self._idle:
            self._idle.remove(conn)
        if conn.holds_slot:
            conn.holds_slot = False
            self._open -= 1
        conn.close()
        self._wake_one()

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def aclose(self) -> None:
        self._closed = True
        while self._idle:
            self._drop(self._idle.pop())


_BAD_IN_NAME = frozenset(":\r\n \t\0")


def _header_lines(headers: Mapping[str, str]) -> str:
    """'name: value\r\n' lines; a name or value that would split the head is refused (injection)."""
    for name, value in headers.items():
        if not name or _BAD_IN_NAME.intersection(name) or "\r" in value or "\n" in value or "\0" in value:
            raise ValueError(f"header {name!r}: {value!r}: headers must be single-line 'name: value' pairs")
    return "".join(f"{name}: {value}\r\n" for name, value in headers.items())

