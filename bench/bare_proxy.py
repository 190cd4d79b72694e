"""The floor under the gateway's added latency: the barest HTTP/1.1 keep-alive proxy Python
runs (uvloop, raw protocols, one upstream connection per client connection, no parsing
beyond Content-Length, no registry, no JSON, no log). What it adds over calling the upstream
directly is what any Python hop costs on the host; gateway_bench.py prints it beside the
gateway's figures so the two can be told apart.

    python -m bench.bare_proxy --port 9000 --upstream 9001

It serves only what the benchmark sends (requests and answers with Content-Length, not
chunked); a stream would be cut at its head.
"""
from __future__ import annotations

import argparse
import asyncio


def _message_end(buffer: bytes | bytearray) -> int | None:
    """The end of the first whole message in `buffer` (head + Content-Length body), or None."""
    head_end = buffer.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    length = 0
    for line in bytes(buffer[:head_end]).split(b"\r\n")[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    end = head_end + 4 + length
    return end if len(buffer) >= end else None


class _Upstream(asyncio.Protocol):
    def __init__(self, client: asyncio.Transport) -> None:
        self.client = client
        self.buffer = bytearray()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := _message_end(self.buffer)) is not None:
            self.client.write(bytes(self.buffer[:end]))
            del self.buffer[:end]

    def connection_lost(self, exc: Exception | None) -> None:
        self.client.close()


class _Client(asyncio.Protocol):
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.buffer = bytearray()
        self.pending: list[bytes] = []
        self.upstream: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        self.upstream, _ = await loop.create_connection(lambda: _Upstream(self.transport), "127.0.0.1",
                                                        self.upstream_port)
        for message in self.pending:
            self.upstream.write(message)
        self.pending.clear()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := _message_end(self.buffer)) is not None:
            message = bytes(self.buffer[:end])
            del self.buffer[:end]
            if self.upstream is None:
                self.pending.append(message)
            else:
                self.upstream.write(message)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.upstream is not None:
            self.upstream.close()


def serve(port: int, upstream_port: int) -> None:
    import uvloop

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(lambda: _Client(upstream_port), "127.0.0.1", port,
                                                                backlog=1024)
        async with server:
            await server.serve_forever()

    uvloop.run(main())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", type=int, required=True, help="the upstream's port on 127.0.0.1")
    args = parser.parse_args()
    serve(args.port, args.upstream)
