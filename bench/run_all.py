"""Run every benchmark and print its figures: `make bench` (or `python -m bench.run_all`).

1. bench.registry_bench: resolve, registration, hashing and audit figures vs MLflow and
   hashlib (writes bench/results/latest.json);
2. bench.gateway_bench, when that module exists: the serving gateway's overhead and its
   lookup vs MLflow's REST server (its figures are added to latest.json under "gateway").

Each runs in its own interpreter, so one cannot warm caches or hold imports for the other.
Missed targets are reported, not failures; a benchmark that crashes or finds wrong answers
makes the exit code non-zero.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"


def run(title: str, command: list[str]) -> int:
    print(f"\n=== {title}: {' '.join(command[2:])}", flush=True)
    start = time.monotonic()
    code = subprocess.run(command, cwd=REPO).returncode
    print(f"=== {title}: exit {code} after {time.monotonic() - start:.0f} s", flush=True)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small samples everywhere (a smoke run)")
    parser.add_argument("--skip-gateway", action="store_true")
    args = parser.parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    latest = RESULTS / "latest.json"

    codes = {}
    registry_cmd = [sys.executable, "-m", "bench.registry_bench", "--json", str(latest)]
    codes["registry"] = run("registry core", registry_cmd + (["--quick"] if args.quick else []))

    if args.skip_gateway:
        print("\n=== gateway: skipped (--skip-gateway)")
    elif importlib.util.find_spec("bench.gateway_bench") is None:
        print("\n=== gateway: bench/gateway_bench.py is not there yet; skipped")
    else:
        gateway_json = RESULTS / "gateway.json"
        gateway_json.unlink(missing_ok=True)
        command = [sys.executable, "-m", "bench.gateway_bench", "--json", str(gateway_json)]
        if args.quick:
            command += ["--requests", "300", "--levels", "1,8"]
        codes["gateway"] = run("serving gateway", command)
        if gateway_json.is_file() and latest.is_file():
            merged = json.loads(latest.read_text())
            merged["gateway"] = json.loads(gateway_json.read_text())
            latest.write_text(json.dumps(merged, indent=2, default=str) + "\n")

    summary = ", ".join(f"{name} exit {code}" for name, code in codes.items())
    if latest.is_file():
        figures = json.loads(latest.read_text())
        missed = [row["metric"] for row in figures.get("table", []) if row.get("met") is False]
        summary += "; registry targets " + ("all met" if not missed else "MISSED: " + "; ".join(missed))
        summary += f"; figures in {latest.relative_to(REPO)}"
    print("\n=== summary: " + summary)
    return 0 if all(code == 0 for code in codes.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
