"""kill -9 a writer at random points during register/promote, many times.

Each trial forks a writer from this (already imported) process, so a trial costs a few
milliseconds instead of an interpreter start; the writer opens its own connection, then
registers and promotes in a loop, appending an acknowledgement to a file after each call
returns. After SIGKILL at a random moment the store must open, the hash chain must
verify, and every acknowledged write must be there.
"""
from __future__ import annotations

import os
import random
import select
import signal
import time

import pytest

from llmreg.registry.api import Registry

TRIALS = {"sqlite": 120, "postgresql": 100}
# Kill windows, counted from the moment the writer has its connection open: timing from the
# fork instead made most kills land before the first write on a loaded machine. SQLite commits
# are fsynced like PostgreSQL's (synchronous=FULL), so both get the same window.
KILL_AFTER_S = {"sqlite": (0.0, 0.12), "postgresql": (0.0, 0.12)}
READY_TIMEOUT_S = 30.0


def _writer(url: str, artifacts: str, ack_path: str, trial: int, ready_fd: int) -> None:
    """Child process: write until killed. Never returns."""
    try:
        reg = Registry.open(url, artifacts=artifacts)
        fd = os.open(ack_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.write(ready_fd, b"r")
        for k in range(10_000):
            name = f"crash-{k % 3}"
            spec = {"name": name, "model": "gpt-5-mini-2026-06-01", "params": {"trial": trial, "k": k},
                    "eval": {"suite": "s", "score": 0.9, "run": f"{trial}-{k}"}}
            entry = reg.register(spec, actor="writer")
            os.write(fd, f"R {name} {entry.version} {trial} {k}\n".encode())
            event = reg.promote(name, entry.version, "staging", actor="writer")
            os.write(fd, f"P {name} {entry.version} {event.seq}\n".encode())
    finally:
        os._exit(0)


def _acks(path: str) -> list[list[str]]:
    if not os.path.exists(path):
        return []
    with open(path) as fh:
        return [line.split() for line in fh.read().split("\n")[:-1]]  # a torn last line is not an ack


@pytest.mark.slow
def test_kill_9_during_writes_loses_no_acknowledged_write(backend, tmp_path):
    kind = "sqlite" if backend.url.startswith("sqlite") else "postgresql"
    artifacts = str(tmp_path / "artifacts")
    setup = Registry.open(backend.url, artifacts=artifacts)
    setup.configure_gates({"eval_threshold": 0.5}, actor="admin")
    setup.close()
    rng = random.Random(20260610)
    ack_path = str(tmp_path / "acks.txt")
    killed_mid_run = 0
    started = time.monotonic()
    for trial in range(TRIALS[kind]):
        before = len(_acks(ack_path))
        ready_r, ready_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child never returns
            os.close(ready_r)
            _writer(backend.url, artifacts, ack_path, trial, ready_w)
        os.close(ready_w)
        readable, _, _ = select.select([ready_r], [], [], READY_TIMEOUT_S)
        os.close(ready_r)
        assert readable, f"trial {trial}: the writer did not open the store within {READY_TIMEOUT_S} s"
        time.sleep(rng.uniform(*KILL_AFTER_S[kind]))
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status), "the writer finished before it was killed"
        acks = _acks(ack_path)
        killed_mid_run += len(acks) > before

        reg = Registry.open(backend.url, artifacts=artifacts)
        try:
            report = reg.verify_audit()
            assert report.ok, f"trial {trial}: {report.reason}"
            for ack in acks[before:]:
                if ack[0] == "R":
                    _, name, version, t, k = ack
                    params = reg.get(name, version).spec.params
                    assert (params["trial"], params["k"]) == (int(t), int(k)), f"trial {trial}: {ack}"
                else:
                    _, name, version, seq = ack
                    [event] = reg.events(name=name, version=version, types=("stage.promoted",))
                    assert event.seq == int(seq)
            if trial % 20 == 0 and kind == "sqlite":
                conn = backend.connect()
                assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
                conn.close()
        finally:
            reg.close()
    all_acks = _acks(ack_path)
    registered = [a for a in all_acks if a[0] == "R"]
    assert len({(a[1], a[2]) for a in registered}) == len(registered)  # no version handed out twice
    assert killed_mid_run > TRIALS[kind] // 2, "most kills should land after some writes were acknowledged"
    reg = Registry.open(backend.url, artifacts=artifacts)
    try:
        before = reg.store.dump_projection()
        reg.rebuild_projection()
        assert reg.store.dump_projection() == before
    finally:
        reg.close()
    print(f"{kind}: {TRIALS[kind]} kills, {len(registered)} acknowledged registrations, "
          f"{time.monotonic() - started:.1f}s")
