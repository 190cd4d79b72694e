"""Fixtures: a real registry (SQLite file), a real echo upstream over HTTP, and the gateway
running under uvicorn on a free 127.0.0.1 port, driven with the official openai client.

Helpers (specs, prompt files, `release`) live in serving_fixtures.py.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from llmreg.registry.api import Registry
from llmreg.serving.app import create_app
from llmreg.serving.call_log import make_engine
from llmreg.serving.config import CallLogConfig, GatewayConfig, SloGuardConfig, UpstreamConfig
from llmreg.serving.server_thread import ServerThread
from echo_upstream import EchoUpstream
from serving_fixtures import postgres_schema, write_prompt


@pytest.fixture
def store_url(request, tmp_path: Path) -> Iterator[str]:
    """A SQLite file; tests marked with BOTH_STORES also run on a fresh PostgreSQL schema."""
    if getattr(request, "param", "sqlite") == "sqlite":
        yield f"sqlite:///{tmp_path / 'registry.db'}"
        return
    schema = postgres_schema()
    yield schema.url
    schema.drop()


@pytest.fixture
def registry(store_url: str) -> Iterator[Registry]:
    reg = Registry.open(store_url)
    yield reg
    reg.close()


@pytest.fixture
def prompts_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "prompts"
    write_prompt(directory)
    return directory


@pytest.fixture
def upstream() -> Iterator[EchoUpstream]:
    with EchoUpstream() as server:
        yield server


class RunningGateway:
    def __init__(self, server: ServerThread, app: Any, store_url: str):
        self.server = server
        self.app = app
        self.gateway = app.state.gateway
        self.store_url = store_url
        self.engine = make_engine(store_url)

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def client(self, **kwargs: Any):
        import openai

        return openai.OpenAI(base_url=self.base_url + "/v1", api_key="unused", max_retries=0, **kwargs)

    def flush(self) -> None:
        assert self.gateway.call_log.flush(10), "call log did not flush"


@pytest.fixture
def start_gateway(store_url: str, prompts_dir: Path, upstream: EchoUpstream) -> Iterator[Callable[..., RunningGateway]]:
    running: list[RunningGateway] = []

    def start(**overrides: Any) -> RunningGateway:
        config = GatewayConfig(
            store_url=store_url,
            prompts_dir=str(prompts_dir),
            poll_interval_s=0.05,
            upstreams={"openai": UpstreamConfig(base_url=upstream.base_url, timeout_s=10)},
            slo_guard=SloGuardConfig(enabled=False),
            call_log=CallLogConfig(flush_interval_s=0.01),
        )
        config = config.model_copy(update=overrides)
        app = create_app(config)
        handle = RunningGateway(ServerThread(app).start(), app, store_url)
        running.append(handle)
        return handle

    yield start
    for handle in running:
        handle.server.stop()
        handle.engine.dispose()
