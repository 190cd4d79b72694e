"""The fast lane (llmreg/serving/fast_lane.py): uvicorn's protocol answering the four POST
endpoints without ASGI. Each test runs a real uvicorn on loopback and talks raw HTTP/1.1 to it,
so what is compared is the bytes a client receives: the lane's answer must be the ASGI path's
answer (same status line, same headers in the same order, same body), and every request the
lane does not take (query string, Expect: 100-continue, HTTP/1.0, pipelined) must still be
answered, the ASGI way."""
from __future__ import annotations

import json
import re
import socket
from pathlib import Path
from typing import Any, Iterator

import pytest

pytest.importorskip("uvicorn")

from llmreg.serving.app import create_app  # noqa: E402
from llmreg.serving.call_log import read_rows  # noqa: E402
from llmreg.serving.config import CallLogConfig, GatewayConfig, SloGuardConfig, UpstreamConfig  # noqa: E402
from llmreg.serving.fast_lane import GatewayHttpProtocol  # noqa: E402
from llmreg.serving.gateway import Outcome  # noqa: E402
from llmreg.serving.server_thread import ServerThread  # noqa: E402
from serving_fixtures import NAME, make_spec, release  # noqa: E402


class CountingProtocol(GatewayHttpProtocol):
    """The lane, counting the requests it answered itself."""

    answered: list[str] = []

    async def _answer(self, cycle: Any) -> None:
        CountingProtocol.answered.append(cycle.headers.get("x-request-id", ""))
        await super()._answer(cycle)


@pytest.fixture
def serve(store_url: str, prompts_dir: Path, upstream) -> Iterator[Any]:
    """serve(http) -> (ServerThread, app): a gateway on the test store, with uvicorn's protocol `http`."""
    running: list[ServerThread] = []
    CountingProtocol.answered = []

    def start(http: Any = CountingProtocol) -> tuple[ServerThread, Any]:
        config = GatewayConfig(store_url=store_url, prompts_dir=str(prompts_dir), poll_interval_s=0.05,
                               upstreams={"openai": UpstreamConfig(base_url=upstream.base_url, timeout_s=10)},
                               slo_guard=SloGuardConfig(enabled=False), call_log=CallLogConfig(flush_interval_s=0.01))
        app = create_app(config)
        server = ServerThread(app, http=http).start()
        running.append(server)
        return server, app

    yield start
    for server in running:
        server.stop()


def post(path: str, body: dict[str, Any], *, request_id: str, version: str = "1.1",
         extra: str = "") -> bytes:
    data = json.dumps(body).encode()
    return (f"POST {path} HTTP/{version}\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
            f"x-request-id: {request_id}\r\n{extra}content-length: {len(data)}\r\n\r\n").encode() + data


def read_answer(sock: socket.socket, buffer: bytearray) -> bytes:
    """One whole HTTP/1.1 answer from `sock` (content-length or chunked), leftovers kept in `buffer`."""
    def fill() -> None:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("closed before a whole answer")
        buffer.extend(data)

    while b"\r\n\r\n" not in buffer:
        fill()
    head_end = buffer.index(b"\r\n\r\n") + 4
    head = bytes(buffer[:head_end]).lower()
    length = re.search(rb"content-length: (\d+)\r\n", head)
    if length:
        end = head_end + int(length.group(1))
    elif b"transfer-encoding: chunked" in head:
        while b"\r\n0\r\n\r\n" not in buffer[head_end - 2:]:
            fill()
        end = buffer.index(b"\r\n0\r\n\r\n", head_end - 2) + 7
    else:
        end = head_end
    while len(buffer) < end:
        fill()
    answer = bytes(buffer[:end])
    del buffer[:end]
    return answer


def exchange(server: ServerThread, *requests: bytes) -> list[bytes]:
    """Send the requests on one connection (all at once: pipelined when several) and read as many answers."""
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(b"".join(requests))
        buffer = bytearray()
        return [read_answer(sock, buffer) for _ in requests]


def normal(answer: bytes) -> bytes:
    """The answer without what differs between two servers by the clock: uvicorn's date header, `created`."""
    answer = re.sub(rb"date: [^\r]*\r\n", b"", answer)
    return re.sub(rb'"created(_at)?":\d+', b'"created":0', answer)


CHAT = {"model": f"{NAME}@production", "messages": [{"role": "user", "content": "my card was charged twice"}]}
CASES = {
    "chat": ("/v1/chat/completions", CHAT),
    "completion": ("/v1/completions", {"model": NAME, "prompt": "my card was charged twice"}),
    "stream": ("/v1/chat/completions", {**CHAT, "stream": True, "stream_options": {"include_usage": True}}),
    "refused override": ("/v1/chat/completions", {**CHAT, "temperature": 0.7}),
    "unknown model": ("/v1/chat/completions", {**CHAT, "model": "no-such-entry@production"}),
    "bad json": ("/v1/chat/completions", None),
}


def request_for(case: str, request_id: str) -> bytes:
    path, body = CASES[case]
    if body is None:
        raw = post(path, {}, request_id=request_id)
        return raw.replace(b"content-length: 2\r\n\r\n{}", b"content-length: 5\r\n\r\n{nope")
    return post(path, body, request_id=request_id)


def test_the_lane_answers_byte_for_byte_as_the_asgi_path(registry, serve):
    release(registry, make_spec(params={"max_tokens": 5, "temperature": 0}))
    lane, _ = serve()
    plain, _ = serve(http="httptools")
    for case in CASES:
        via_lane = exchange(lane, request_for(case, f"lane-{case.replace(' ', '-')}"))[0]
        via_asgi = exchange(plain, request_for(case, f"lane-{case.replace(' ', '-')}"))[0]
        assert normal(via_lane) == normal(via_asgi), case
    assert len(CountingProtocol.answered) == len(CASES)  # the lane answered every one itself
    statuses = {case: exchange(lane, request_for(case, "s"))[0].split(b" ")[1] for case in CASES}
    assert statuses == {"chat": b"200", "completion": b"200", "stream": b"200", "refused override": b"400",
                        "unknown model": b"404", "bad json": b"400"}


def test_requests_the_lane_leaves_to_asgi_are_answered_the_same(registry, serve):
    release(registry, make_spec(params={"max_tokens": 5}))
    lane, _ = serve()
    query = post("/v1/chat/completions?trace=1", CHAT, request_id="q")
    expect = post("/v1/chat/completions", CHAT, request_id="e", extra="expect: 100-continue\r\n")
    old = post("/v1/chat/completions", CHAT, request_id="o", version="1.0")
    answers = [exchange(lane, raw)[0] for raw in (query, old)]
    with socket.create_connection((lane.host, lane.port), timeout=10) as sock:
        sock.sendall(expect)
        buffer = bytearray()
        interim, final = read_answer(sock, buffer), read_answer(sock, buffer)
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    answers.insert(1, final)
    for answer in answers:
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and b'"choices"' in answer, answer[:200]
    assert b"connection: close\r\n" in answers[2]  # HTTP/1.0: one request per connection
    assert CountingProtocol.answered == []  # none of them went through the lane


def test_pipelined_requests_are_answered_in_order(registry, serve):
    release(registry, make_spec(params={"max_tokens": 5}))
    lane, _ = serve()
    get_health = b"GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n"
    answers = exchange(lane, post("/v1/chat/completions", CHAT, request_id="first"), get_health,
                       post("/v1/completions", CASES["completion"][1], request_id="third"))
    assert [a.split(b"\r\n")[0] for a in answers] == [b"HTTP/1.1 200 OK"] * 3
    assert b"x-request-id: first\r\n" in answers[0] and b'"status":"ok"' in answers[1]
    assert b"x-request-id: third\r\n" in answers[2]
    assert "first" in CountingProtocol.answered  # the first went the lane; the later ones queued behind it


def test_a_header_that_would_split_the_answer_becomes_a_500(registry, serve, monkeypatch):
    release(registry, make_spec(params={"max_tokens": 5}))
    lane, app = serve()

    async def forged(kind: str, raw: bytes, headers: Any) -> Outcome:
        return Outcome(200, {"ok": True}, {"x-request-id": "a\r\nx-injected: 1"})

    monkeypatch.setattr(app.state.gateway, "handle", forged)
    answer = exchange(lane, post("/v1/chat/completions", CHAT, request_id="x"))[0]
    assert answer.startswith(b"HTTP/1.1 500 ")
    assert b"x-injected" not in answer and b'"code":"internal_error"' in answer


def test_a_gateway_bug_answers_500_and_the_connection_stays_usable(registry, serve, monkeypatch):
    release(registry, make_spec(params={"max_tokens": 5}))
    lane, app = serve()
    real = app.state.gateway.handle
    calls = []

    async def flaky(kind: str, raw: bytes, headers: Any) -> Outcome:
        calls.append(kind)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return await real(kind, raw, headers)

    monkeypatch.setattr(app.state.gateway, "handle", flaky)
    first, second = exchange(lane, post("/v1/chat/completions", CHAT, request_id="a"),
                             post("/v1/chat/completions", CHAT, request_id="b"))
    assert first.startswith(b"HTTP/1.1 500 ") and b'"type":"server_error"' in first
    assert second.startswith(b"HTTP/1.1 200 OK") and b"x-request-id: b\r\n" in second


def test_each_lane_call_has_one_row(registry, serve, store_url):
    release(registry, make_spec(params={"max_tokens": 5}))
    lane, app = serve()
    ids = [f"row-{i}" for i in range(5)]
    exchange(lane, *(post("/v1/chat/completions", CHAT, request_id=i) for i in ids))
    assert app.state.gateway.call_log.flush(10)
    from llmreg.serving.call_log import make_engine

    engine = make_engine(store_url)
    try:
        rows = [r for r in read_rows(engine) if r["request_id"] in ids]
    finally:
        engine.dispose()
    assert sorted(r["request_id"] for r in rows) == ids and {r["status"] for r in rows} == {200}
