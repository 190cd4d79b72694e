"""Several processes register and promote at once: no event or version is lost or
duplicated, the chain does not fork, and the projection equals a replay of the log."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter

from llmreg.registry.api import Registry

WORKERS = 4
COUNT = 60
HERE = os.path.dirname(os.path.abspath(__file__))


def test_concurrent_writers_lose_nothing(backend, tmp_path):
    artifacts = str(tmp_path / "artifacts")
    reg = Registry.open(backend.url, artifacts=artifacts)
    reg.configure_gates({"eval_threshold": 0.5}, actor="admin")
    root = os.path.dirname(os.path.dirname(HERE))
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    start_at = time.time() + 2.0  # after every worker has imported and opened the store
    procs = [subprocess.Popen([sys.executable, os.path.join(HERE, "writer_process.py"), backend.url, artifacts,
                               str(w), str(COUNT), str(start_at)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for w in range(WORKERS)]
    acks = []
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
        acks.extend(json.loads(line) for line in out.splitlines())
    try:
        registered = [a for a in acks if a["op"] == "register"]
        assert len(registered) == WORKERS * COUNT
        # no version handed out twice, none lost
        assert len({(a["name"], a["version"]) for a in registered}) == len(registered)
        for name in ("app-0", "app-1"):
            mine = sorted((a for a in registered if a["name"] == name), key=lambda a: a["version"])
            versions = reg.versions(name)
            assert sorted(versions) == sorted(a["version"] for a in mine)
            # every registration bumped the latest: a dense run of patch versions 1.0.0 .. 1.0.N
            assert set(versions) == {f"1.0.{i}" for i in range(len(mine))}
            for ack in mine:
                params = reg.get(name, ack["version"]).spec.params
                assert (params["worker"], params["k"]) == (ack["worker"], ack["k"])
        # the workers really interleaved: some worker's registrations are not one contiguous run
        owners = [e.actor for e in reg.events(types=("entry.registered",))]
        switches = sum(1 for a, b in zip(owners, owners[1:]) if a != b)
        assert switches > WORKERS, f"writers did not overlap ({switches} switches)"
        events = reg.events()
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        counts = Counter(e.type for e in events)
        assert counts["entry.registered"] == len(registered)
        assert counts["stage.promoted"] == sum(a["op"] == "promote" for a in acks)
        report = reg.verify_audit()
        assert report.ok and report.events == len(events)
        before = reg.store.dump_projection()
        reg.rebuild_projection()
        assert reg.store.dump_projection() == before
    finally:
        reg.close()
