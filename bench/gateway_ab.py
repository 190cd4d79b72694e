"""Interleaved A/B of the gateway: two source trees (or more), one store, one upstream.

    python -m bench.gateway_ab --tree base=/path/to/old/checkout --tree new=. [--rounds 4]
                               [--requests 3000] [--concurrency 8]

On a shared host p99 moves by milliseconds from one minute to the next, so a change is
judged by running the old and the new gateway in turn, minutes apart at most: each round
measures the upstream directly, then each gateway (started from its own tree through
`serving.app.run`, as `llmreg serve` starts it) with the same requests. Prints each round
and the rounds pooled: added p50 / p99 over direct, and the gateway's CPU per request.
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import gateway_bench as gb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", action="append", required=True, metavar="LABEL=PATH",
                        help="a checkout to run the gateway from (repeat: two or more)")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args(argv)
    trees = []
    for item in args.tree:
        label, sep, path = item.partition("=")
        if not sep or not (Path(path) / "llmreg" / "serving" / "app.py").exists():
            parser.error(f"--tree {item!r}: give LABEL=PATH, PATH a checkout of this project")
        trees.append((label, Path(path).resolve()))
    gb._use_uvloop()
    work = Path(tempfile.mkdtemp(prefix="llmreg-gateway-ab-"))
    processes: list[subprocess.Popen] = []
    try:
        gb._keyring(work)
        env = dict(os.environ, PYTHONPATH=str(gb.REPO))
        _, up_port = gb.start_listener(["bench.gateway_bench", "upstream", "--latency-ms", "10"], env, processes)
        url, config, _, key = gb.setup_registry(work, up_port)
        gateways = []
        for label, tree in trees:
            process, port = gb.start_gateway(url, config, dict(os.environ, PYTHONPATH=str(tree)), processes,
                                             tree=tree)
            gb.run_phase("warmup", port, gb.chat_requests(port, 600, "w", key=key), args.concurrency)
            gateways.append((label, process, port))
        pooled = {label: gb.Phase(label, args.concurrency) for label in ["direct", *(label for label, _ in trees)]}
        cpu: dict[str, list[float]] = {}
        for r in range(args.rounds):
            direct = gb.run_phase("direct", up_port, gb.chat_requests(up_port, args.requests, f"d{r}"),
                                  args.concurrency)
            pooled["direct"].latencies_ms += direct.latencies_ms
            line = f"round {r + 1}: direct p99 {direct.pct(99):.2f} ms"
            for label, process, port in gateways:
                phase = gb.run_phase(label, port, gb.chat_requests(port, args.requests, f"{label}{r}", key=key),
                                     args.concurrency, pids=[process.pid])
                pooled[label].latencies_ms += phase.latencies_ms
                cpu.setdefault(label, []).append(phase.cpu_us_per_request)
                line += (f" | {label}: added p50 {phase.pct(50) - direct.pct(50):.2f} p99 "
                         f"{phase.pct(99) - direct.pct(99):.2f} ms, {phase.cpu_us_per_request:.0f} us CPU")
            print(line, flush=True)
        direct = pooled["direct"]
        for label, _, _ in gateways:
            mine = pooled[label]
            print(f"pooled {label}: added p50 {mine.pct(50) - direct.pct(50):.2f} ms, p99 "
                  f"{mine.pct(99) - direct.pct(99):.2f} ms; CPU per request "
                  f"{', '.join(f'{c:.0f}' for c in cpu[label])} us")
        return 0
    finally:
        for process in processes:
            gb.stop(process, signal.SIGKILL, timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
