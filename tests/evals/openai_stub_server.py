"""A real, threaded HTTP server on 127.0.0.1 speaking enough of the OpenAI API for tests.

Endpoints: GET /v1/models, POST /v1/completions, POST /v1/chat/completions.
Faults are injected over real HTTP so the runner's retry, timeout and error recording
are exercised end to end:

    with StubServer() as server:
        server.queue_faults("429", "500", ("slow", 2.0), "malformed")
        ...

Each queued fault is consumed by the next POST; `always` applies to every POST while set.
A request naming a model the server does not list gets a 404 `model_not_found`.
"""
from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler
from typing import Any, Callable

from tests.loopback_http import LoopbackHTTPServer

Fault = str | tuple[str, float]  # "429" | "500" | "503" | "malformed" | "text" | "no_choices" | ("slow", s)


def echo_label(prompt: str) -> str:
    """Default answer: the last word of the ticket text (tests pick what that means)."""
    body = prompt.split("label")[0].replace("ticket :", "").split()
    return body[-1] if body else ""


class StubServer(LoopbackHTTPServer):
    def __init__(
        self,
        models: tuple[str, ...] = ("stub-model",),
        *,
        snapshot_suffix: str = "-2025-06-01",
        responder: Callable[[str], str] = echo_label,
        retry_after: str | None = "0",
    ):
        self.models = set(models)
        self.snapshot_suffix = snapshot_suffix
        self.responder = responder
        self.retry_after = retry_after
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.always: Fault | None = None
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        super().__init__(self._handler_class())

    def queue_faults(self, *faults: Fault) -> None:
        with self._lock:
            self._faults.extend(faults)

    def post_count(self) -> int:
        with self._lock:
            return sum(1 for path, _ in self.requests if path != "/v1/models")

    def _next_fault(self) -> Fault | None:
        with self._lock:
            if self._faults:
                return self._faults.popleft()
            return self.always

    def _record(self, path: str, body: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append((path, body))

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else headers+body writes wait on delayed ACKs

            def log_message(self, *args: object) -> None:  # keep pytest output clean
                pass

            def _send(self, status: int, payload: bytes, content_type: str, headers=None) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(payload)))
                    for key, value in (headers or {}).items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout): nothing to answer

            def _json(self, status: int, obj: Any, headers=None) -> None:
                self._send(status, json.dumps(obj).encode(), "application/json", headers)

            def _error(self, status: int, message: str, code: str, headers=None) -> None:
                self._json(status, {"error": {"message": message, "type": "stub", "code": code}}, headers)

            def do_GET(self) -> None:
                server._record(self.path, {})
                if self.path != "/v1/models":
                    return self._error(404, f"no route {self.path}", "not_found")
                data = [{"id": m, "object": "model", "owned_by": "stub"} for m in sorted(server.models)]
                self._json(200, {"object": "list", "data": data})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except json.JSONDecodeError:
                    return self._error(400, "request body is not JSON", "bad_request")
                server._record(self.path, body)
                if self.path not in ("/v1/completions", "/v1/chat/completions"):
                    return self._error(404, f"no route {self.path}", "not_found")
                fault = server._next_fault()
                if isinstance(fault, tuple) and fault[0] == "slow":
                    time.sleep(fault[1])
                    fault = None
                if fault in ("429", "500", "503"):
                    headers = {"Retry-After": server.retry_after} if fault == "429" and server.retry_after else None
                    return self._error(int(fault), f"stub fault {fault}", f"stub_{fault}", headers)
                if fault == "malformed":
                    return self._send(200, b'{"id": "cmpl-1", "choices": [', "application/json")
                if fault == "text":
                    return self._send(200, b"upstream says hello", "text/plain")
                if fault == "no_choices":
                    return self._json(200, {"id": "cmpl-1", "object": "text_completion", "choices": []})
                model = body.get("model")
                if model not in server.models:
                    return self._error(404, f"The model `{model}` does not exist", "model_not_found")
                if self.path == "/v1/chat/completions":
                    prompt = " ".join(m.get("content", "") for m in body.get("messages", []) if m.get("role") == "user")
                else:
                    prompt = body.get("prompt", "")
                text = server.responder(prompt)
                usage = {
                    "prompt_tokens": len(prompt.split()),
                    "completion_tokens": len(text.split()),
                    "total_tokens": len(prompt.split()) + len(text.split()),
                }
                snapshot = f"{model}{server.snapshot_suffix}"
                if self.path == "/v1/chat/completions":
                    choice = {"index": 0, "finish_reason": "length",
                              "message": {"role": "assistant", "content": text}}
                    obj = "chat.completion"
                else:
                    choice = {"index": 0, "finish_reason": "length", "text": text, "logprobs": None}
                    obj = "text_completion"
                self._json(200, {"id": "cmpl-stub", "object": obj, "created": int(time.time()),
                                 "model": snapshot, "choices": [choice], "usage": usage})

        return Handler
