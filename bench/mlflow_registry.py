"""MLflow's model registry, measured the way bench/registry_bench.py measures ours.

Runs as a child process of registry_bench (stdlib + mlflow only, never the project), so it
works from any interpreter that has MLflow: the project venv after `make bench`, or
.tools/mlflow (MLflow pins pyarrow below the project's, so it may live in its own env).
It speaks JSON lines: one command per stdin line, one answer per stdout line, so the
parent can interleave rounds of ours and MLflow's and both see the same machine load.

    {"op": "setup", "db": "/tmp/x/mlflow.db"}              -> {"version": "3.17.2", ...}
    {"op": "resolve", "n": 2000}                           -> {"ns": [per-call ns, ...]}
    {"op": "register", "n": 200}                           -> {"seconds": 0.85, "n": 200}
    {"op": "search", "tries": 3}                           -> {"seconds": [..], "rows": 2001}
    {"op": "quit"}

resolve = MlflowClient.get_model_version_by_alias(name, "production");
register = MlflowClient.create_model_version(name, source) (SQLite backend, same client);
search = MlflowClient.search_model_versions("name='...'"): every version of the name (listing).
"""
from __future__ import annotations

import json
import logging
import os
import sys
import time

NAME = "support-triage"
SOURCE = "s3://llmreg-bench/models/support-triage/{n}"  # a URI MLflow records as is (no run, no copy)


def main() -> int:
    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    logging.disable(logging.WARNING)  # MLflow logs its schema migrations at INFO/WARNING on stderr
    out = sys.stdout
    client = None
    registered = 0
    for line in sys.stdin:
        command = json.loads(line)
        op = command["op"]
        if op == "quit":
            break
        if op == "setup":
            import mlflow
            from mlflow import MlflowClient

            uri = f"sqlite:///{command['db']}"
            client = MlflowClient(tracking_uri=uri, registry_uri=uri)
            client.create_registered_model(NAME)
            version = client.create_model_version(NAME, SOURCE.format(n=0)).version
            client.set_registered_model_alias(NAME, "production", version)
            registered = 1
            for _ in range(50):  # warm the session, the statement cache and the page cache
                client.get_model_version_by_alias(NAME, "production")
            answer = {"version": mlflow.__version__, "python": sys.version.split()[0], "executable": sys.executable}
        elif op == "resolve":
            lookup = client.get_model_version_by_alias
            clock = time.perf_counter_ns
            samples = []
            for _ in range(int(command["n"])):
                start = clock()
                lookup(NAME, "production")
                samples.append(clock() - start)
            answer = {"ns": samples}
        elif op == "register":
            create = client.create_model_version
            n = int(command["n"])
            start = time.perf_counter()
            for i in range(n):
                create(NAME, SOURCE.format(n=registered + i))
            answer = {"seconds": time.perf_counter() - start, "n": n}
            registered += n
        elif op == "search":
            seconds, rows = [], 0
            for _ in range(int(command.get("tries", 3))):
                start = time.perf_counter()
                rows = len(client.search_model_versions(f"name='{NAME}'", max_results=200_000))
                seconds.append(time.perf_counter() - start)
            answer = {"seconds": seconds, "rows": rows}
        else:
            answer = {"error": f"unknown op {op!r}"}
        out.write(json.dumps(answer) + "\n")
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
