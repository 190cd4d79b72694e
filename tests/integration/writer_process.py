"""A registry writer run as its own process by the concurrency test.

    python writer_process.py URL ARTIFACTS WORKER COUNT [START_AT]

Registers COUNT versions spread over two shared names and tries to promote every other
one to staging; prints one JSON line per acknowledged write (after the call returned).
"""
from __future__ import annotations

import json
import sys


def main(url: str, artifacts: str, worker: int, count: int, start_at: float = 0.0) -> int:
    import time

    from llmreg.registry.api import Registry
    from llmreg.registry.errors import Conflict, GateFailed

    reg = Registry.open(url, artifacts=artifacts)
    time.sleep(max(0.0, start_at - time.time()))  # all workers start writing together
    for k in range(count):
        # A pause between writes, as a real client has: SQLite's busy handler is not fair, and a
        # writer looping flat out can finish all its writes while the others sleep in backoff.
        time.sleep(0.002)
        name = f"app-{k % 2}"
        spec = {"name": name, "model": "gpt-5-mini-2026-06-01", "params": {"worker": worker, "k": k},
                "eval": {"suite": "s", "score": 0.9, "run": f"w{worker}-{k}"}}
        entry = reg.register(spec, actor=f"worker-{worker}")
        print(json.dumps({"op": "register", "name": name, "version": entry.version, "worker": worker, "k": k}),
              flush=True)
        if k % 2:
            row = reg.store.pointer(name, "default", "staging")
            try:
                event = reg.promote(name, entry.version, "staging", actor=f"worker-{worker}",
                                    expect=row[0] if row else None)
                print(json.dumps({"op": "promote", "name": name, "version": entry.version, "seq": event.seq}),
                      flush=True)
            except (Conflict, GateFailed) as exc:
                print(json.dumps({"op": "refused", "name": name, "version": entry.version,
                                  "error": type(exc).__name__}), flush=True)
    reg.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]),
                  float(sys.argv[5]) if len(sys.argv) > 5 else 0.0))
