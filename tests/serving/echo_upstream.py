"""A real OpenAI-compatible HTTP server on 127.0.0.1 that echoes what it received.

The answer's content is the JSON of the request body, so a test reads exactly which model,
prompt and params reached the upstream. Per-model behaviour is injected over HTTP:
`fail_models` answer 500, `reject_models` answer 400 (context_length_exceeded, as vLLM and
OpenAI do), `delays` (model -> seconds) answer late. Like a real server it streams (SSE,
the echo word by word, usage last with stream_options.include_usage), returns `n` choices,
logprobs when asked, and a tool call to the first tool it is given.
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
        self.reject_models: set[str] = set()
        self.fail_next: dict[str, int] = {}  # model -> how many more calls answer 503
        self.delays: dict[str, float] = {}
        self.set_cookie: str | None = None  # sent on every answer when set (Set-Cookie)
        self.cookies: list[str | None] = []  # the Cookie header of each request received
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
                if upstream.set_cookie:
                    self.send_header("set-cookie", upstream.set_cookie)
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802 - http.server API
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                model = body.get("model")
                with upstream._lock:
                    upstream.requests.append(body)
                    upstream.cookies.append(self.headers.get("cookie"))
                delay = upstream.delays.get(model, 0.0)
                if delay:
                    time.sleep(delay)
                with upstream._lock:
                    transient = upstream.fail_next.get(model, 0)
                    if transient:
                        upstream.fail_next[model] = transient - 1
                if transient:
                    self._send(503, {"error": {"message": "warming up", "type": "server_error", "param": None,
                                               "code": None}})
                    return
                if model in upstream.fail_models:
                    self._send(500, {"error": {"message": f"injected failure for {model}", "type": "server_error",
                                               "param": None, "code": None}})
                    return
                if model in upstream.reject_models:
                    self._send(400, {"error": {"message": "This model's maximum context length is 64 tokens.",
                                               "type": "invalid_request_error", "param": "messages",
                                               "code": "context_length_exceeded"}})
                    return
                if self.path.endswith("/embeddings"):
                    inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
                    self._send(200, {"object": "list", "model": model, "usage": {"prompt_tokens": len(inputs),
                                                                                 "total_tokens": len(inputs)},
                                     "data": [{"object": "embedding", "index": i,
                                               "embedding": [float(len(str(text))), 1.0, 0.5]}
                                              for i, text in enumerate(inputs)]})
                    return
                echo = json.dumps(body, sort_keys=True)
                usage = {"prompt_tokens": len(echo.split()), "completion_tokens": 1, "total_tokens": len(echo.split()) + 1}
                chat = self.path.endswith("/chat/completions")
                if body.get("stream"):
                    self._stream(body, echo, usage, chat)
                    return
                choices = []
                for index in range(int(body.get("n") or 1)):
                    logprobs = ({"content": [{"token": "echo", "logprob": -0.5, "bytes": None, "top_logprobs": []}]}
                                if body.get("logprobs") else None)
                    if chat:
                        message = {"role": "assistant", "content": echo}
                        if body.get("tools"):
                            name = body["tools"][0]["function"]["name"]
                            message = {"role": "assistant", "content": None, "tool_calls": [
                                {"id": "call_1", "type": "function",
                                 "function": {"name": name, "arguments": json.dumps({"echo": echo})}}]}
                        choices.append({"index": index, "message": message, "logprobs": logprobs,
                                        "finish_reason": "tool_calls" if body.get("tools") else "stop"})
                    else:
                        choices.append({"index": index, "text": echo, "finish_reason": "stop", "logprobs": logprobs})
                self._send(200, {"id": "echo-1", "object": "chat.completion" if chat else "text_completion",
                                 "created": int(time.time()), "model": model, "choices": choices, "usage": usage,
                                 "system_fingerprint": "echo-fp"})

            def _stream(self, body: dict[str, Any], echo: str, usage: dict[str, int], chat: bool) -> None:
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.end_headers()
                kind = "chat.completion.chunk" if chat else "text_completion"
                words = echo.split(" ")
                for i, word in enumerate(words):
                    piece = word if i == 0 else " " + word
                    choice = ({"index": 0, "delta": {"content": piece, **({"role": "assistant"} if i == 0 else {})},
                               "finish_reason": None} if chat else {"index": 0, "text": piece, "finish_reason": None})
                    self._event({"id": "echo-1", "object": kind, "model": body.get("model"), "choices": [choice]})
                last = ({"index": 0, "delta": {}, "finish_reason": "stop"} if chat
                        else {"index": 0, "text": "", "finish_reason": "stop"})
                self._event({"id": "echo-1", "object": kind, "model": body.get("model"), "choices": [last]})
                if (body.get("stream_options") or {}).get("include_usage"):
                    self._event({"id": "echo-1", "object": kind, "model": body.get("model"), "choices": [],
                                 "usage": usage})
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

            def _event(self, data: dict[str, Any]) -> None:
                self.wfile.write(f"data: {json.dumps(data)}\n\n".encode())
                self.wfile.flush()

        return Handler
