"""A real HTTP webhook receiver on 127.0.0.1: records every POST (headers + raw body) and
answers from a per-path script of statuses (then 200), so tests drive retries over HTTP."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.loopback_http import LoopbackHTTPServer


class WebhookReceiver(LoopbackHTTPServer):
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.scripts: dict[str, list[int]] = {}  # path -> statuses to answer first, in order
        self.hold: set[str] = set()               # paths whose next request waits for `release`
        self.release = threading.Event()
        self._lock = threading.Lock()
        super().__init__(self._handler())

    def url(self, path: str) -> str:
        return self.base_url.removesuffix("/v1") + path

    def received(self, path: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.requests if path is None or r["path"] == path]

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._lock:
                    script = receiver.scripts.get(self.path) or []
                    status = script.pop(0) if script else 200
                    receiver.requests.append({"path": self.path, "headers": dict(self.headers.items()),
                                              "body": body, "status": status})
                    held = self.path in receiver.hold
                    receiver.hold.discard(self.path)
                if held:
                    receiver.release.wait(30)
                reply = b"ok" if status < 300 else b"receiver failing"
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(reply)))
                    self.end_headers()
                    self.wfile.write(reply)
                except OSError:
                    pass  # the sender died while we held its request (crash tests)

        return Handler
