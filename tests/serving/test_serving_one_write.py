"""one_write: uvicorn's own request cycle writes a response's head and first body bytes in one
write (llmreg/serving/one_write.py). These drive uvicorn's real RequestResponseCycle, so an
uvicorn release that writes differently fails here, not as a slower gateway."""
from __future__ import annotations

import asyncio
import logging

import pytest

pytest.importorskip("uvicorn")
from uvicorn.protocols.http.flow_control import FlowControl  # noqa: E402
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle  # noqa: E402

from llmreg.serving.one_write import one_write  # noqa: E402


class RecordingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


def cycle(transport: RecordingTransport, method: str = "POST") -> RequestResponseCycle:
    scope = {"type": "http", "method": method, "path": "/v1/chat/completions", "http_version": "1.1",
             "query_string": b"", "headers": [], "client": None}
    return RequestResponseCycle(scope=scope, transport=transport, flow=FlowControl(transport),
                                logger=logging.getLogger("test"), access_logger=logging.getLogger("test"),
                                access_log=False, default_headers=[], message_event=asyncio.Event(),
                                expect_100_continue=False, keep_alive=True, on_response=lambda: None)


def start(length: int | None) -> dict:
    headers = [(b"content-type", b"application/json")]
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    return {"type": "http.response.start", "status": 200, "headers": headers}


def test_a_json_answer_is_one_write_holding_head_and_body():
    async def main() -> list[bytes]:
        transport = RecordingTransport()
        send = one_write(cycle(transport).send)
        await send(start(11))
        assert transport.writes == []  # the head waits for the body
        await send({"type": "http.response.body", "body": b'{"ok":true}'})
        return transport.writes

    writes = asyncio.run(main())
    assert len(writes) == 1
    head, _, body = writes[0].partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK") and b"content-length: 11" in head
    assert body == b'{"ok":true}'


def test_without_one_write_uvicorn_writes_twice():
    """The premise: what one_write saves (if uvicorn ever writes once, drop one_write)."""
    async def main() -> list[bytes]:
        transport = RecordingTransport()
        send = cycle(transport).send
        await send(start(2))
        await send({"type": "http.response.body", "body": b"{}"})
        return transport.writes

    assert len(asyncio.run(main())) == 2


def test_a_stream_sends_its_head_with_the_first_chunk_then_one_write_per_chunk():
    async def main() -> list[bytes]:
        transport = RecordingTransport()
        send = one_write(cycle(transport).send)
        await send(start(None))  # chunked
        for part in (b"data: 1\n\n", b"data: 2\n\n"):
            await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return transport.writes

    writes = asyncio.run(main())
    assert len(writes) == 3
    assert writes[0].startswith(b"HTTP/1.1 200 OK") and b"transfer-encoding: chunked" in writes[0]
    assert writes[0].endswith(b"\r\n\r\n9\r\ndata: 1\n\n\r\n")
    assert writes[1] == b"9\r\ndata: 2\n\n\r\n" and writes[2] == b"0\r\n\r\n"


def test_a_body_message_that_writes_nothing_still_sends_the_head():
    async def main() -> list[bytes]:
        transport = RecordingTransport()
        send = one_write(cycle(transport, method="HEAD").send)
        await send(start(5))
        await send({"type": "http.response.body", "body": b""})
        return transport.writes

    writes = asyncio.run(main())
    assert len(writes) == 1 and writes[0].startswith(b"HTTP/1.1 200 OK") and writes[0].endswith(b"\r\n\r\n")


def test_other_servers_get_their_send_back_unchanged():
    async def send(message: dict) -> None:
        pass

    assert one_write(send) is send
