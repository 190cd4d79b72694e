"""`llmreg serve --workers N`: N real gateway processes on one port, their /metrics added up,
every call logged once at shutdown; a bad config refused once, before any worker starts."""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from llmreg.serving.call_log import make_engine, read_rows
from serving_fixtures import NAME, make_spec, release

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:  # a new connection each time
        return response.read()


def chat(base: str) -> dict:
    body = json.dumps({"model": f"{NAME}@production",
                       "messages": [{"role": "user", "content": "my card was charged twice"}]}).encode()
    request = urllib.request.Request(base + "/v1/chat/completions", data=body,
                                     headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        return json.loads(response.read())


def serve(store_url: str, config: Path, port: int, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "llmreg", "serve", "--store", store_url, "--port", str(port),
                             "--config", str(config), *extra], cwd=REPO, env=dict(os.environ),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_ready(process: subprocess.Popen, base: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"gateway exited {process.returncode}: {process.stdout.read()}")
        try:
            get(base + "/healthz")
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("gateway did not answer /healthz")


def worker_pids(process: subprocess.Popen) -> list[int]:
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
    return [int(pid) for pid in children]


def requests_total(metrics: str) -> float:
    return sum(float(value) for value in
               re.findall(r"^llmreg_gateway_requests_total\{[^}]*\} ([0-9.e+]+)$", metrics, flags=re.M))


@pytest.fixture
def gateway_config(tmp_path: Path, prompts_dir: Path, upstream) -> Path:
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump({
        "prompts_dir": str(prompts_dir), "poll_interval_s": 0.05,
        "upstreams": {"openai": {"base_url": upstream.base_url, "timeout_s": 10}},
        "slo_guard": {"enabled": False}, "call_log": {"flush_interval_s": 0.01}}))
    return path


def test_two_workers_share_the_port_add_up_metrics_and_log_every_call(registry, store_url, gateway_config, tmp_path):
    entry = release(registry, make_spec())
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env_before = dict(os.environ)
    process = serve(store_url, gateway_config, port, "--workers", "2")
    try:
        wait_ready(process, base)
        engine = make_engine(store_url)
        sent = 0
        try:
            while sent < 400:  # new connections until both workers answered some (their rows say which)
                for _ in range(10):
                    assert chat(base)["model"] == f"{NAME}@{entry.version}"
                    sent += 1
                time.sleep(0.1)
                if len({row["replica"] for row in read_rows(engine)}) == 2:
                    break
        finally:
            engine.dispose()
        assert json.loads(get(base + "/health"))["replica"].endswith(tuple(f":{pid}" for pid in worker_pids(process)))
        for _ in range(3):  # every worker's answer adds up, whichever worker renders /metrics
            assert requests_total(get(base + "/metrics").decode()) == sent
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=60)[0]
    assert process.returncode == 0, output
    assert "2 worker processes" in output
    assert dict(os.environ) == env_before
    engine = make_engine(store_url)
    try:
        rows = read_rows(engine)
    finally:
        engine.dispose()
    assert len(rows) == sent  # graceful: each worker wrote out its call log before exiting
    assert len({row["replica"] for row in rows}) == 2
    assert not list(Path("/tmp").glob(f"llmreg-gateway-metrics-*/*_{process.pid}.db"))


def test_a_bad_config_is_refused_once_before_workers_start(registry, store_url, gateway_config, tmp_path):
    release(registry, make_spec())
    bad = tmp_path / "bad.yaml"  # well-formed, refused only once the gateway meets the registry
    bad.write_text(yaml.safe_dump({**yaml.safe_load(gateway_config.read_text()), "experiments": {
        NAME: {"variants": {"a": {"entry": NAME, "weight": 0.5}, "b": {"entry": NAME, "weight": 0.5}}}}}))
    process = serve(store_url, bad, free_port(), "--workers", "3")
    output = process.communicate(timeout=60)[0]
    assert process.returncode != 0
    assert "worker" not in output.lower(), output  # no worker was ever started
    refusals = [line for line in output.splitlines() if "bad input" in line]
    assert len(refusals) == 1 and f"experiments.{NAME}" in refusals[0], output


def test_workers_must_be_positive(store_url, gateway_config):
    process = serve(store_url, gateway_config, free_port(), "--workers", "0")
    output = process.communicate(timeout=60)[0]
    assert process.returncode != 0
    assert "--workers 0" in output and "1 or more" in output
