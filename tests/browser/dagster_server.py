"""A real `dagster-webserver` for the project's workspace, run as a subprocess for tests.

The webserver alone (no daemon: nothing here runs sensors or schedules) starts in a few
seconds and serves the same UI and GraphQL API as `dagster dev`. It runs in its own process
group, so stopping it also stops the gRPC code server it spawns.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

LOCATIONS_QUERY = """
query { workspaceOrError { __typename ... on Workspace { locationEntries { name loadStatus } } } }
"""


@dataclass(frozen=True)
class DagsterWebserver:
    url: str
    log_path: Path

    def graphql(self, query: str, variables: dict | None = None, timeout: float = 15.0) -> dict:
        """POST a query to /graphql; the `data` member, or AssertionError naming the errors."""
        response = httpx.post(f"{self.url}/graphql", json={"query": query, "variables": variables or {}},
                              timeout=timeout)
        response.raise_for_status()
        body = response.json()
        assert not body.get("errors"), f"GraphQL errors: {body['errors']}"
        return body["data"]

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def free_port() -> int:
    """A port the OS just handed out on 127.0.0.1 (closed again, so a tiny race is possible)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_webserver(project_root: Path, dagster_home: Path, *, port: int | None = None,
                      startup_timeout: float = 45.0) -> Iterator[DagsterWebserver]:
    """Serve `project_root/workspace.yaml` until the block exits; the process group is always killed.

    Returns once /server_info answers and no code location is still loading, or raises
    RuntimeError with the tail of the server log.
    """
    dagster_home.mkdir(parents=True, exist_ok=True)
    # Telemetry off: a test must not phone home (and the machine may have no internet).
    (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    port = port or free_port()
    server = DagsterWebserver(url=f"http://127.0.0.1:{port}", log_path=dagster_home / "webserver.log")
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home)}
    cmd = [sys.executable, "-m", "dagster_webserver", "-w", "workspace.yaml",
           "-h", "127.0.0.1", "-p", str(port)]
    with server.log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, cwd=project_root, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_until_ready(server, proc, startup_timeout)
        yield server
    finally:
        _kill_group(proc)


def _wait_until_ready(server: DagsterWebserver, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    answering = False
    last_error = "no answer yet"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dagster-webserver exited with code {proc.returncode} before it was ready; "
                               f"log {server.log_path}:\n{server.log_tail()}")
        try:
            if not answering:
                answering = httpx.get(f"{server.url}/server_info", timeout=2.0).status_code == 200
            if answering:
                workspace = server.graphql(LOCATIONS_QUERY, timeout=5.0)["workspaceOrError"]
                entries = workspace.get("locationEntries") or []
                if entries and all(e["loadStatus"] != "LOADING" for e in entries):
                    return
                last_error = f"locations still loading: {entries}"
        except (httpx.HTTPError, AssertionError) as exc:
            last_error = repr(exc)
        time.sleep(0.25)
    raise RuntimeError(f"dagster-webserver not ready after {timeout:.0f}s ({last_error}); "
                       f"log {server.log_path}:\n{server.log_tail()}")


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGTERM the whole group, give it a few seconds, then SIGKILL whatever is left of it."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=10.0)
    except subprocess.TimeoutExpired:
        pass
    # Even after the leader exits, the code server it spawned may still hold the group.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=5.0)
