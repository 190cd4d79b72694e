"""Cold start of the hot CLI verbs: whole `llmreg resolve` / `llmreg list` processes on a small store.

    python -m bench.cli_bench [--runs 20] [--json bench/results/cli.json]

Each figure is one whole process (interpreter start, imports, opening the store, the answer
printed), run `--runs` times with the commands interleaved so all see the same load; the
median and the best are printed. Beside them, in the same rounds: the bare interpreter
(`python -c pass`, the floor) and MLflow answering the same question from a fresh process
(`MlflowClient(...).get_model_version_by_alias(name, "production")` on its SQLite store),
when an interpreter with MLflow is found (see registry_bench.find_mlflow_python).

Bytecode is compiled first, as pip compiles an installed package. Each figure also gives the
process's CPU time (user + system, from getrusage): on a machine shared with other jobs the
wall time includes waiting for a core, the CPU time does not.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

REPO = Path(__file__).resolve().parents[1]
NAME = "support-triage"
TARGET_MS = 50.0

MLFLOW_SETUP = """
import logging, sys
logging.disable(logging.WARNING)
from mlflow import MlflowClient
uri = "sqlite:///" + sys.argv[1]
client = MlflowClient(tracking_uri=uri, registry_uri=uri)
client.create_registered_model("support-triage")
v = client.create_model_version("support-triage", "s3://llmreg-bench/models/support-triage/0").version
client.set_registered_model_alias("support-triage", "production", v)
"""
MLFLOW_RESOLVE = """
import logging, sys
logging.disable(logging.WARNING)
from mlflow import MlflowClient
uri = "sqlite:///" + sys.argv[1]
print(MlflowClient(tracking_uri=uri, registry_uri=uri).get_model_version_by_alias("support-triage", "production").version)
"""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="processes per command (default 20)")
    parser.add_argument("--mlflow-python", default=None)
    parser.add_argument("--skip-mlflow", action="store_true")
    parser.add_argument("--json", default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    from bench.registry_bench import Side, _bench_keyring, find_mlflow_python, loadavg

    _bench_keyring()
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "llmreg")], check=True,
                   stdout=subprocess.DEVNULL)
    work = Path(tempfile.mkdtemp(prefix="llmreg-cli-bench-"))
    url = f"sqlite:///{work / 'registry.db'}"
    Side(url=url, artifacts=str(work / "artifacts")).setup(work)  # one version in production
    env = dict(os.environ, PYTHONPATH=str(REPO))
    commands: dict[str, list[str]] = {
        "python -c pass (floor)": [sys.executable, "-c", "pass"],
        "llmreg resolve": [sys.executable, "-m", "llmreg", "resolve", NAME, "--store", url],
        "llmreg list": [sys.executable, "-m", "llmreg", "list", "--store", url],
    }
    mlflow_python, why = (None, "--skip-mlflow") if args.skip_mlflow else find_mlflow_python(args.mlflow_python)
    if mlflow_python:
        db = str(work / "mlflow.db")
        subprocess.run([mlflow_python, "-c", MLFLOW_SETUP, db], check=True, capture_output=True, cwd=str(work))
        commands["MLflow get_model_version_by_alias (process)"] = [mlflow_python, "-c", MLFLOW_RESOLVE, db]
    results = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "loadavg_start": loadavg(),
               "runs": args.runs, "ms": {}}
    samples: dict[str, list[float]] = {label: [] for label in commands}
    cpu: dict[str, list[float]] = {label: [] for label in commands}
    for _ in range(args.runs):
        for label, command in commands.items():
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env, cwd=str(work))
            samples[label].append((time.perf_counter() - start) * 1000)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[label].append((after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000)
    results["loadavg_end"] = loadavg()
    print(f"cold CLI, whole process, {args.runs} runs each (load average {results['loadavg_start']} -> "
          f"{results['loadavg_end']}); target <= {TARGET_MS:g} ms for resolve and list")
    for label, values in samples.items():
        median, best = statistics.median(values), min(values)
        cpu_median = statistics.median(cpu[label])
        results["ms"][label] = {"median": round(median, 1), "min": round(best, 1), "cpu_median": round(cpu_median, 1)}
        print(f"  {label:<48} median {median:7.1f} ms   best {best:7.1f} ms   CPU median {cpu_median:7.1f} ms")
    if not mlflow_python:
        print(f"  MLflow: not measured ({why})")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
