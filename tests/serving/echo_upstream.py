"""A real OpenAI-compatible HTTP server on 127.0.0.1 that echoes what it received.

The answer's content is the JSON of the request body, so a test reads exactly which model,
prompt and params reached the upstream. Per-model behaviour is injected over HTTP:
`fail_models` answer 500, `delays` (model -> seconds) answer late.
"""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.loopback_http import LoopbackHTTPServer


class EchoUpstream(LoopbackHTTPServer):
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.fail_models: set[str] = set()
        self.delays: dict[str, float] = {}
        self._lock = threading.Lock()
        super().__init__(self._handler())

    def received(self, model: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.requests if model is None or r.get("model") == model]

    def _handler(self):
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802 - http.server API
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                model = body.get("model")
                with upstream._lock:
                    upstream.requests.append(body)
                delay = upstream.delays.get(model, 0.0)
                if delay:
                    time.sleep(delay)
                if model in upstream.fail_models:
                    self._send(500, {"error": {"message": f"injected failure for {model}", "type": "server_error",
                                               "param": None, "code": None}})
                    return
                echo = json.dumps(body, sort_keys=True)
                usage = {"prompt_tokens": len(echo.split()), "completion_tokens": 1, "total_tokens": len(echo.split()) + 1}
                if self.path.endswith("/chat/completions"):
                    choice = {"index": 0, "message": {"role": "assistant", "content": echo}, "finish_reason": "stop"}
                    kind = "chat.completion"
                else:
                    choice = {"index": 0, "text": echo, "finish_reason": "stop"}
                    kind = "text_completion"
                self._send(200, {"id": "echo-1", "object": kind, "created": int(time.time()), "model": model,
                                 "choices": [choice], "usage": usage})

        return Handler
