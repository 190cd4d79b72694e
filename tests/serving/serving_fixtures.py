"""Helpers shared by the serving tests: prompt files, entry specs, and `release`, which
walks a version through the real lifecycle gates (eval -> staging, review -> canary,
canary_slo evidence + two approvals -> production), the calls operators make."""
from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from llmreg.registry.api import Registry

PROMPT_TEMPLATE = "ticket : {text} label :"
NAME = "support-triage"


def prompt_sha(template: str = PROMPT_TEMPLATE) -> str:
    return hashlib.sha256(template.encode("utf-8")).hexdigest()


def write_prompt(directory: Path, *, name: str = "triage-prompt", version: str = "v1",
                 template: str = PROMPT_TEMPLATE) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}-{version}.yaml"
    path.write_text(f"name: {name}\nversion: {version}\ntemplate: {template!r}\n", encoding="utf-8")
    return path


def make_spec(*, name: str = NAME, model: Any = "gpt-5-mini-2026-01-01", params: dict | None = None,
              gates: dict | None = None, prompt: bool = True, **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": name,
        "model": model,
        "params": params if params is not None else {"max_tokens": 5, "temperature": 0},
        "eval": {"suite": "triage-eval-v4", "score": 0.94, "run": "run-1", "segments": {"eu": 0.93, "us": 0.95}},
        "gates": gates if gates is not None else {"eval_threshold": 0.8},
    }
    if prompt:
        spec["prompt_ref"] = "triage-prompt@v1"
        spec["prompt_sha256"] = prompt_sha()
    spec.update(extra)
    return spec


def release(reg: Registry, spec: dict[str, Any], *, to: str = "production", env: str = "default",
            weight: float | None = None, author: str = "alice"):
    """Register `spec` and promote it through the real gates up to stage `to`."""
    entry = reg.register(spec, actor=author)
    return promote_through(reg, entry, to=to, env=env, weight=weight)


def promote_through(reg: Registry, entry, *, to: str = "production", env: str = "default",
                    weight: float | None = None):
    """Walk a registered entry through the real gates up to stage `to` in `env`."""
    name, version = entry.name, entry.version
    reg.promote(name, version, "staging", env, actor="ci")
    if to == "staging":
        return entry
    reg.review(name, version, env, actor="bob", decision="approve")
    reg.promote(name, version, "canary", env, actor="release-bot", weight=weight)
    if to == "canary":
        return entry
    reg.record_evidence(name, version, env, "canary_slo", {"error_rate": 0.0, "p99_ms": 10.0, "calls": 1000,
                                                          "instance": "gw-test", "window": {
                                                              "start": "2026-06-10T09:00:00Z",
                                                              "end": "2026-06-10T10:00:00Z"}},
                        actor="system:slo-guard")
    reg.approve(name, version, "production", env, actor="carol")
    reg.approve(name, version, "production", env, actor="dave")
    reg.promote(name, version, "production", env, actor="release-bot")
    return entry


def wait_until(predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


# Tests that must hold on both store backends: @BOTH_STORES (PostgreSQL: 127.0.0.1:5432, database
# `test`, user root or postgres, or $LLMREG_TEST_POSTGRES; each test gets its own schema).
BOTH_STORES = pytest.mark.parametrize(
    "store_url", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)


class PostgresSchema:
    def __init__(self, params: dict[str, Any]):
        import os
        import uuid
        from urllib.parse import quote

        import psycopg

        self.params = params
        self.name = f"llmreg_serving_{os.getpid()}_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(autocommit=True, **params) as conn:
            conn.execute(f'CREATE SCHEMA "{self.name}"')
        auth = quote(params["user"]) + (":" + quote(params["password"]) if params.get("password") else "")
        self.url = (f"postgresql+psycopg://{auth}@{params['host']}:{params['port']}/{params['dbname']}"
                    f"?options=-csearch_path%3D{self.name}")

    def drop(self) -> None:
        import psycopg

        with psycopg.connect(autocommit=True, **self.params) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{self.name}" CASCADE')


def postgres_schema() -> PostgresSchema:
    """A throwaway schema on the local server; skips (saying why) when none answers."""
    import os

    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - psycopg is a dev dependency
        pytest.skip(f"psycopg is not installed ({exc})")
    explicit = os.environ.get("LLMREG_TEST_POSTGRES")
    if explicit:
        from sqlalchemy.engine import make_url

        url = make_url(explicit)
        candidates = [{"host": url.host or "127.0.0.1", "port": url.port or 5432, "dbname": url.database or "test",
                       "user": url.username, **({"password": url.password} if url.password else {})}]
    else:
        candidates = [{"host": "127.0.0.1", "port": 5432, "dbname": "test", "user": u} for u in ("root", "postgres")]
    errors = []
    for params in candidates:
        try:
            with psycopg.connect(connect_timeout=3, **params) as conn:
                conn.execute("SELECT 1")
            return PostgresSchema(params)
        except Exception as exc:  # noqa: BLE001 - report why and skip
            errors.append(f"{params['user']}@{params['host']}: {' '.join(str(exc).split())[:120]}")
    pytest.skip("no PostgreSQL server reachable (" + "; ".join(errors) + ")")
