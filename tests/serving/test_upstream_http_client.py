"""The gateway's upstream HTTP client against real servers on 127.0.0.1 (asyncio, raw bytes,
so each test decides exactly what goes over the wire: lengths, chunks, closes, resets)."""
from __future__ import annotations

import asyncio
import contextlib
import datetime
import gzip
import ipaddress
import ssl

import pytest

from llmreg.serving.backends.http_client import HttpClient, UpstreamUnreachable


class Wire:
    """A loopback server: `answer(head, body, writer)` writes whatever the test wants."""

    def __init__(self, answer) -> None:
        self.answer = answer
        self.connections = 0
        self.open_now = 0
        self.most_open = 0
        self.requests: list[tuple[bytes, bytes]] = []
        self.server: asyncio.AbstractServer | None = None

    async def start(self, ssl_context: ssl.SSLContext | None = None) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=ssl_context)
        self.port = self.server.sockets[0].getsockname()[1]
        return self.port

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        nth = 0
        self.open_now += 1
        self.most_open = max(self.most_open, self.open_now)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                body = await reader.readexactly(length)
                self.requests.append((head, body))
                nth += 1
                if await self.answer(head, body, writer, nth) == "close":
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.open_now -= 1
            writer.close()

    async def stop(self) -> None:
        self.server.close()


@contextlib.asynccontextmanager
async def wired(answer, path: str = "", **options):
    """A Wire server answering with `answer`, and an HttpClient to it; both closed after."""
    wire = Wire(answer)
    port = await wire.start()
    client = HttpClient(f"http://127.0.0.1:{port}{path}", **options)
    try:
        yield wire, client
    finally:
        await client.aclose()
        await wire.stop()


def ok(body: bytes = b'{"ok": true}', extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n" + extra + \
        b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


def test_keep_alive_reuses_one_connection_and_sends_a_complete_request():
    async def main():
        async def answer(head, body, writer, nth):
            writer.write(ok(body))

        headers = {"content-type": "application/json", "authorization": "Bearer k"}
        async with wired(answer, path="/v1/", headers=headers) as (wire, client):
            for i in range(3):
                status, headers, data = await client.post("/chat/completions", b'{"n": %d}' % i, {"x-request-id": "r1"})
                assert (status, data) == (200, b'{"n": %d}' % i)
                assert headers["content-type"] == "application/json"
        head = wire.requests[0][0].decode()
        assert head.startswith("POST /v1/chat/completions HTTP/1.1\r\n")
        for line in (f"host: 127.0.0.1:{wire.port}", "authorization: Bearer k", "x-request-id: r1",
                     "accept-encoding: identity", "content-length: 8"):
            assert line in head.split("\r\n")
        assert wire.connections == 1

    run(main())


def test_a_chunked_stream_arrives_chunk_by_chunk():
    async def main():
        release = asyncio.Event()

        async def answer(head, body, writer, nth):
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
                         b"7\r\ndata: 1\r\n")
            await release.wait()
            writer.write(b"7\r\ndata: 2\r\n0\r\n\r\n")

        async with wired(answer) as (wire, client):
            answer_ = await client.send("/s", b"{}")
            chunks = answer_.chunks()
            assert await chunks.__anext__() == b"data: 1"  # before the server sent the rest
            release.set()
            assert [c async for c in chunks] == [b"data: 2"]
            await client.post("/again", b"{}")  # the drained stream's connection went back to the pool
        assert wire.connections == 1

    run(main())


def test_a_body_delimited_by_close_is_read_whole_and_not_pooled():
    async def main():
        async def answer(head, body, writer, nth):
            writer.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nall of it")
            return "close"

        async with wired(answer) as (wire, client):
            assert (await client.post("/", b""))[2] == b"all of it"
            assert (await client.post("/", b""))[2] == b"all of it"
        assert wire.connections == 2
        assert client._open == 0

    run(main())


def test_an_idle_connection_the_server_closed_is_replaced_transparently():
    async def main():
        async def answer(head, body, writer, nth):
            writer.write(ok())
            await writer.drain()
            return "close"  # closes after answering, without saying so (as idle timeouts do)

        async with wired(answer) as (wire, client):
            for _ in range(3):
                assert (await client.post("/", b"{}"))[0] == 200
                await asyncio.sleep(0.05)  # the close reaches the client while the connection is idle
        assert wire.connections == 3
        assert len(wire.requests) == 3  # each request reached the server once

    run(main())


def test_a_reused_connection_closed_before_any_answer_is_retried_once_on_a_new_one():
    async def main():
        async def answer(head, body, writer, nth):
            if nth == 2:
                return "close"  # closing as the next request arrives: nothing is answered
            writer.write(ok(body))

        async with wired(answer) as (wire, client):
            assert (await client.post("/", b"1"))[2] == b"1"
            assert (await client.post("/", b"2"))[2] == b"2"
        assert wire.connections == 2
        assert [body for _, body in wire.requests] == [b"1", b"2", b"2"]

    run(main())


def test_a_fresh_connection_closed_before_any_answer_is_not_retried():
    async def main():
        async def answer(head, body, writer, nth):
            return "close"

        async with wired(answer) as (wire, client):
            with pytest.raises(UpstreamUnreachable, match="closed the connection"):
                await client.post("/", b"1")
        assert len(wire.requests) == 1

    run(main())


def test_a_slow_reader_pauses_the_socket_and_still_gets_every_byte():
    big = bytes(range(256)) * 16384  # 4 MiB

    async def main():
        async def answer(head, body, writer, nth):
            writer.write(ok(big))
            await writer.drain()

        async with wired(answer) as (wire, client):
            answer_ = await client.send("/", b"{}")
            await asyncio.sleep(0.3)  # the server writes on; the client buffers up to its limit and pauses
            conn = answer_._conn
            assert conn.paused and conn.buffered < 2 * 1024 * 1024
            assert await answer_.read() == big

    run(main())


def test_a_reset_mid_body_is_unreachable_and_frees_the_slot():
    async def main():
        async def answer(head, body, writer, nth):
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly part")
            await writer.drain()
            return "close"

        async with wired(answer, max_connections=1) as (wire, client):
            with pytest.raises(UpstreamUnreachable, match="closed the connection"):
                await client.post("/", b"{}")
            assert client._open == 0
            with pytest.raises(UpstreamUnreachable):
                await client.post("/", b"{}")  # the one slot was given back: a new connection, not a wait

    run(main())


def test_nothing_listening_is_unreachable():
    async def main():
        wire = Wire(None)
        port = await wire.start()
        await wire.stop()
        await asyncio.sleep(0.05)
        client = HttpClient(f"http://127.0.0.1:{port}")
        with pytest.raises(UpstreamUnreachable, match="cannot connect"):
            await client.post("/", b"{}")
        assert client._open == 0

    run(main())


def test_the_deadline_covers_the_whole_exchange_and_gives_the_connection_up():
    async def main():
        async def answer(head, body, writer, nth):
            if b"slow-head" in body:
                await asyncio.sleep(5)
            writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1\r\na\r\n")
            if b"slow-body" in body:
                await asyncio.sleep(5)
            writer.write(b"0\r\n\r\n")

        async with wired(answer, timeout_s=0.3) as (wire, client):
            loop = asyncio.get_running_loop()
            for body in (b"slow-head", b"slow-body"):
                for reused in (False, True):  # a new connection, then a kept-alive one (its own timer)
                    if reused:
                        assert (await client.post("/", b"quick"))[0] == 200 and len(client._idle) == 1
                    started = loop.time()
                    with pytest.raises(TimeoutError):
                        await client.post("/", body)
                    assert loop.time() - started < 1.5
                    assert client._open == 0 and not client._idle

    run(main())


def test_max_connections_bounds_what_is_open_and_everyone_is_served():
    async def main():
        async def answer(head, body, writer, nth):
            await asyncio.sleep(0.02)
            writer.write(ok(body))

        async with wired(answer, max_connections=2) as (wire, client):
            answers = await asyncio.gather(*(client.post("/", b"%d" % i) for i in range(10)))
        assert [a[2] for a in answers] == [b"%d" % i for i in range(10)]
        assert wire.most_open <= 2 and wire.connections == 2

    run(main())


def test_a_stream_left_early_is_closed_not_pooled():
    async def main():
        async def answer(head, body, writer, nth):
            writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1\r\na\r\n")
            await asyncio.sleep(0.5)
            writer.write(b"1\r\nb\r\n0\r\n\r\n")

        async with wired(answer) as (wire, client):
            answer_ = await client.send("/", b"{}")
            chunks = answer_.chunks()
            assert await chunks.__anext__() == b"a"
            await chunks.aclose()
            assert client._open == 0 and not client._idle

    run(main())


def test_large_and_gzip_bodies_arrive_intact():
    big = bytes(range(256)) * 4096  # 1 MiB: reading pauses and resumes on the way

    async def main():
        async def answer(head, body, writer, nth):
            if body in (b"gz", b"cut-gz", b"not-gz"):
                packed = {b"gz": gzip.compress(b'{"packed": true}'), b"cut-gz": gzip.compress(b'{"packed": true}')[:12],
                          b"not-gz": b"plain text"}[body]
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: "
                             + str(len(packed)).encode() + b"\r\n\r\n" + packed)
            else:
                writer.write(ok(big))

        async with wired(answer) as (wire, client):
            assert (await client.post("/", b"big"))[2] == big
            assert (await client.post("/", b"gz"))[2] == b'{"packed": true}'
            for broken in (b"cut-gz", b"not-gz"):
                with pytest.raises(UpstreamUnreachable, match="compressed body is corrupt"):
                    await client.post("/", broken)

    run(main())


def test_https_checks_the_certificate(tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "upstream.test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")

    async def main():
        async def answer(head, body, writer, nth):
            writer.write(ok(b"secret"))

        wire = Wire(answer)
        port = await wire.start(server_ctx)
        trusting = HttpClient(f"https://127.0.0.1:{port}",
                              ssl_context=ssl.create_default_context(cafile=str(tmp_path / "cert.pem")))
        default = HttpClient(f"https://127.0.0.1:{port}")  # the system's CAs do not know this certificate
        try:
            assert (await trusting.post("/", b"{}"))[2] == b"secret"
            with pytest.raises(UpstreamUnreachable, match="CERTIFICATE_VERIFY_FAILED"):
                await default.post("/", b"{}")
        finally:
            await trusting.aclose()
            await default.aclose()
            await wire.stop()

    run(main())


def test_bad_urls_and_header_injection_are_refused():
    with pytest.raises(ValueError, match="base_url"):
        HttpClient("ftp://example.com")
    with pytest.raises(ValueError, match="single-line"):
        HttpClient("http://127.0.0.1:1", headers={"x-a": "b\r\nx-injected: 1"})

    async def main():
        client = HttpClient("http://127.0.0.1:1")
        with pytest.raises(ValueError, match="single-line"):
            await client.post("/", b"", {"x-request-id": "a\r\nx-injected: 1"})

    run(main())


def test_a_retry_while_other_connections_sit_idle_succeeds_within_the_limit():
    async def main():
        async def answer(head, body, writer, nth):
            if body == b"drop" and nth > 1:
                return "close"  # the reused connection dies unanswered: the retry wants a fresh one
            writer.write(ok(body))

        async with wired(answer, max_connections=2) as (wire, client):
            await asyncio.gather(client.post("/", b"a"), client.post("/", b"b"))  # two idle connections now
            assert len(client._idle) == 2
            assert (await client.post("/", b"drop"))[2] == b"drop"
            assert client._open <= 2

    run(main())
