"""Run an ASGI app with uvicorn in a background thread on a free 127.0.0.1 port.

Used by the tests and the benchmark to drive the gateway over real HTTP in-process:

    with ServerThread(create_app(config)) as server:
        client = openai.OpenAI(base_url=server.base_url + "/v1", api_key="unused")
"""
from __future__ import annotations

import socket
import threading
import time
from typing import Any


class ServerThread:
    def __init__(self, app: Any, *, host: str = "127.0.0.1", log_level: str = "warning", http: Any = None):
        """`http`: uvicorn's protocol; by default the one `llmreg serve` runs (fast_lane.py)."""
        import uvicorn

        from llmreg.serving.app import SERVER_OPTIONS

        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, 0))
        self.host, self.port = self._sock.getsockname()[:2]
        options = {**SERVER_OPTIONS, "http": http or SERVER_OPTIONS["http"]}  # as `llmreg serve` runs it
        config = uvicorn.Config(app, log_level=log_level, lifespan="on", **options)
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self._sock]},
                                        name="uvicorn-test-server", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> "ServerThread":
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the server thread died during startup; see the log above")
            if time.monotonic() > deadline:
                raise TimeoutError(f"server did not start within {timeout}s")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self.server.should_exit = True
        self._thread.join(timeout)
        self._sock.close()

    def __enter__(self) -> "ServerThread":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
