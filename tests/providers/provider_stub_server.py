"""A real HTTP server on 127.0.0.1 playing an OpenAI-compatible provider, for unit tests.

It lists models (`GET /v1/models`, with optional per-model extra fields such as
shutdown_date) and answers `POST /v1/completions` per model through a responder. Faults are
queued per method and travel over real HTTP, so retries, timeouts and parsing are exercised
end to end:

    with ProviderStub({"triage-2026-06-01": answer_right}) as stub:
        stub.queue_get_faults("503", "malformed")      # next two model-list requests
        stub.queue_post_faults("500")                  # next completion request

The vLLM integration test checks the real server against the same contract
(provider_contract.py), so this stub cannot drift from what a server really sends.
"""
from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler
from typing import Any, Callable

from tests.loopback_http import LoopbackHTTPServer

Responder = Callable[[str], str]
# "500" | "503" | "429" | "401" | "404" | "malformed" | "html" | "shape" | ("slow", seconds)
Fault = str | tuple[str, float]


class ProviderStub(LoopbackHTTPServer):
    def __init__(self, models: dict[str, Responder], *, extras: dict[str, dict[str, Any]] | None = None):
        self.models = dict(models)
        self.extras = dict(extras or {})
        self.get_count = 0
        self.post_count = 0
        self.always_post: Fault | None = None
        self._get_faults: deque[Fault] = deque()
        self._post_faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        super().__init__(self._handler())

    def queue_get_faults(self, *faults: Fault) -> None:
        with self._lock:
            self._get_faults.extend(faults)

    def queue_post_faults(self, *faults: Fault) -> None:
        with self._lock:
            self._post_faults.extend(faults)

    def _next(self, queue: deque, always: Fault | None = None) -> Fault | None:
        with self._lock:
            return queue.popleft() if queue else always

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args: object) -> None:
                pass

            def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and left

            def _json(self, status: int, obj: Any) -> None:
                self._send(status, json.dumps(obj).encode())

            def _error(self, status: int, message: str, code: str) -> None:
                self._json(status, {"error": {"message": message, "type": "stub", "code": code}})

            def _fault(self, fault: Fault | None) -> bool:
                """Answer with the fault; True when the request is done."""
                if isinstance(fault, tuple) and fault[0] == "slow":
                    time.sleep(fault[1])
                    return False
                if fault in ("500", "503", "429", "401", "404"):
                    self._error(int(fault), f"stub fault {fault}", f"stub_{fault}")
                    return True
                if fault == "malformed":
                    self._send(200, b'{"object": "list", "data": [')
                    return True
                if fault == "html":
                    self._send(200, b"<html>maintenance</html>", "text/html")
                    return True
                if fault == "shape":
                    self._json(200, {"models": ["not", "a", "model", "list"]})
                    return True
                return False

            def do_GET(self) -> None:
                with stub._lock:
                    stub.get_count += 1
                if self.path != "/v1/models":
                    return self._error(404, f"no route {self.path}", "not_found")
                if self._fault(stub._next(stub._get_faults)):
                    return
                data = [{"id": m, "object": "model", "created": 1767225600, "owned_by": "stub", **stub.extras.get(m, {})}
                        for m in sorted(stub.models)]
                self._json(200, {"object": "list", "data": data})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with stub._lock:
                    stub.post_count += 1
                if self.path != "/v1/completions":
                    return self._error(404, f"no route {self.path}", "not_found")
                if self._fault(stub._next(stub._post_faults, stub.always_post)):
                    return
                model = body.get("model")
                if model not in stub.models:
                    return self._error(404, f"The model `{model}` does not exist.", "model_not_found")
                prompt = body.get("prompt", "")
                text = stub.models[model](prompt)
                self._json(200, {
                    "id": "cmpl-stub", "object": "text_completion", "created": int(time.time()), "model": model,
                    "choices": [{"index": 0, "text": text, "finish_reason": "length", "logprobs": None}],
                    "usage": {"prompt_tokens": len(prompt.split()), "completion_tokens": 1,
                              "total_tokens": len(prompt.split()) + 1},
                })

        return Handler
