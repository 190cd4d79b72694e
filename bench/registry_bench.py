"""Registry core benchmarks, side by side with MLflow's model registry measured in the same run.

    python -m bench.registry_bench [--quick] [--rounds 5] [--skip-mlflow] [--skip-postgres]
                                   [--skip-hash] [--json bench/results/latest.json]

What is measured (each figure names its baseline; ratios are "times better than the baseline"):
- resolve latency p50/p99: `Registry.resolve(name, env)` uncached (`cache=False`: one
  primary-key query on stage_pointers per call) and cached (the default: a dict hit, the
  log head re-checked every 0.5 s), vs MLflow `MlflowClient.get_model_version_by_alias`;
- registration throughput: `Registry.register(...)` of a full release tuple (model, prompt,
  params, tools, retrieval, policy, datasets, training, eval, card; its adapter already in
  the artifact store) with the version bumped from the diff, vs MLflow
  `create_model_version(name, source)`;
  both on SQLite files in the same temp directory; MLflow runs in a child process
  (bench/mlflow_registry.py) and rounds alternate ours/MLflow so both see the same load;
- the same resolve/registration figures on PostgreSQL (127.0.0.1:5432, database `test`,
  a throwaway schema) when a server answers;
- artifact hashing: `registry.artifacts.hash_file` (the verify/resolve path) vs
  `hashlib.file_digest(f, "sha256")` on a 1 GiB file of random bytes (page-cached), best
  of 4 each in ABBA order; plus `ArtifactStore.put` (hash + copy into the store) for scale;
- audit verification: `Registry.verify_audit()` (read every stored event row and re-hash
  the chain) on a log of >= 50k events written through the API (release cycles: register,
  eval, gates, reviews, approvals, promotions, and the SLO guard's canary evidence).

The machine is shared with whatever else runs on it: the load average at start and end is
printed and stored with the figures.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence
from urllib.parse import quote

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "latest.json"
NAME = "support-triage"
ENV = "default"
GIB = 1 << 30
COMMIT = "0123456789abcdef0123456789abcdef01234567"

TARGETS = {
    "resolve_uncached_p50_us": 20.0,
    "resolve_cached_p50_us": 2.0,
    "register_per_s": 2000.0,
    "hash_ratio": 0.9,
    "audit_events_per_s": 10_000.0,  # issue 11: the full audit, signatures checked
    "register_pg_per_s": 1500.0,  # issue 13: PostgreSQL on loopback
}
BATCH = 100  # versions per register_many transaction (a bulk load, a CI matrix)


# ---------------------------------------------------------------------------- small statistics

def percentile(samples: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (no interpolation: a reported p99 is a latency that happened)."""
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    rank = max(1, -(-len(ordered) * pct // 100))
    return float(ordered[int(rank) - 1])


def loadavg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover - not on Linux
        return []


# ---------------------------------------------------------------------------- our side

def release_spec(adapter: dict[str, Any], max_tokens: int = 300) -> dict[str, Any]:
    """A full release tuple as the pipeline registers it (the seed's fields plus the rest)."""
    return {
        "name": NAME,
        "model": {"provider": "hf", "id": "acme/tiny-llama", "revision": COMMIT, "architecture": "LlamaForCausalLM"},
        "prompt_ref": "triage-prompt@v9",
        "prompt_sha256": "b" * 64,
        "params": {"max_tokens": max_tokens, "temperature": 0.2, "stop": ["\n\n"]},
        "tools_ref": "triage-tools@v3",
        "retrieval": {"kb": "kb-index@2026-06-01"},
        "policy_ref": "safety-policy@v4",
        "artifacts": [adapter],
        "datasets": {"train": "md5:0f343b0931126a20f133d67c2b018a3b", "eval": "md5:1f343b0931126a20f133d67c2b018a3b"},
        "training": {"seed": 7, "lora": {"r": 8, "alpha": 16}, "epochs": 3},
        "eval": {"suite": "triage-eval-v4", "suite_version": "4.1", "score": 0.94, "run": "run-2026-06-10",
                 "segments": {"en": 0.95, "es": 0.92}, "threshold": 0.9},
        "owner": "team-support",
        "framework": "transformers+peft",
        "card": {"intended_use": "Triage of inbound support tickets", "limitations": "English and Spanish only",
                 "contact": "support-ml@example.com"},
        "lineage": {"git_commit": COMMIT, "training_run": "train-42"},
        "labels": {"family": "triage", "app": "support"},
    }


def put_adapter(registry, work: Path) -> dict[str, Any]:
    path = work / "adapter.safetensors"
    path.write_bytes(os.urandom(64 << 10))
    ref = registry.artifacts.put(path, "adapter.safetensors", "adapter")
    return {"name": ref.name, "uri": ref.uri, "sha256": ref.sha256, "size": ref.size, "kind": "adapter"}


SLO_OK = {"error_rate": 0.002, "p99_ms": 640.0, "calls": 500, "instance": "gw-bench-1",
          "window": {"start": "2026-06-10T09:00:00Z", "end": "2026-06-10T10:00:00Z"}}


def release_to_production(registry, version: str, *, name: str = NAME, evidence: int = 1) -> None:
    """Walk one version through every gate, as the people and the SLO guard would."""
    registry.promote(name, version, "staging", ENV, actor="ci")
    registry.review(name, version, ENV, actor="bob", decision="approve", notes="eval results checked")
    registry.promote(name, version, "canary", ENV, actor="rm")
    for i in range(evidence):
        registry.record_evidence(name, version, ENV, "canary_slo", dict(SLO_OK, calls=500 + i), actor="system:slo-guard")
    registry.approve(name, version, "production", ENV, actor="carol")
    registry.approve(name, version, "production", ENV, actor="dave")
    registry.promote(name, version, "production", ENV, actor="rm")


@dataclass
class Side:
    """One store (SQLite file or PostgreSQL schema) set up with a version in production."""

    url: str
    artifacts: str
    adapter: dict[str, Any] = field(default_factory=dict)
    next_tokens: int = 301
    expected: str = ""

    def open(self, **kwargs):
        from llmreg.registry.api import Registry

        return Registry.open(self.url, artifacts=self.artifacts, **kwargs)

    def setup(self, work: Path) -> None:
        with self.open() as registry:
            self.adapter = put_adapter(registry, work)
            entry = registry.register(release_spec(self.adapter), actor="alice")
            release_to_production(registry, entry.version)
            self.expected = entry.version

    def resolve_samples(self, registry, n: int) -> list[int]:
        resolve = registry.resolve
        clock = time.perf_counter_ns
        samples = []
        for _ in range(n):
            start = clock()
            resolved = resolve(NAME, ENV)
            samples.append(clock() - start)
        if resolved.version != self.expected:  # a benchmark that answers wrongly measures nothing
            raise AssertionError(f"resolve returned {resolved.version}, expected {self.expected}")
        return samples

    cpu_s: float = 0.0  # process CPU time spent registering one per call (the part code can cut; the rest is fsync)
    batch_cpu_s: float = 0.0  # the same, through register_many

    def register(self, registry, n: int, batch: int | None = None) -> float:
        """n versions: one register() call each, or `batch` per register_many transaction."""
        specs = [release_spec(self.adapter, self.next_tokens + i) for i in range(n)]
        self.next_tokens += n
        cpu = time.process_time()
        start = time.perf_counter()
        if batch is None:
            for spec in specs:
                registry.register(spec, actor="alice")
        else:
            for i in range(0, n, batch):
                registry.register_many(specs[i:i + batch], actor="alice")
        elapsed = time.perf_counter() - start
        if batch is None:
            self.cpu_s += time.process_time() - cpu
        else:
            self.batch_cpu_s += time.process_time() - cpu
        return elapsed


# ---------------------------------------------------------------------------- MLflow side

def find_mlflow_python(explicit: str | None) -> tuple[str | None, str]:
    """(interpreter, "") or (None, why): --mlflow-python, $LLMREG_MLFLOW_PYTHON, this venv, .tools/mlflow."""
    import importlib.util

    candidates = [explicit, os.environ.get("LLMREG_MLFLOW_PYTHON")]
    if importlib.util.find_spec("mlflow") is not None:
        candidates.append(sys.executable)
    candidates.append(str(REPO / ".tools" / "mlflow" / "bin" / "python"))
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate, ""
    return None, ("MLflow not found: `make bench` installs it (the bench extra), or put it in its own env: "
                  "python -m venv .tools/mlflow && .tools/mlflow/bin/pip install mlflow")


class MlflowWorker:
    """bench/mlflow_registry.py in a child process, driven over JSON lines."""

    def __init__(self, python: str, db: Path):
        env = dict(os.environ, PYTHONWARNINGS="ignore")
        self.log = db.parent / "worker.log"  # MLflow's own chatter; shown if the worker dies
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(
                [python, str(Path(__file__).with_name("mlflow_registry.py"))], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=log, text=True, env=env, cwd=str(db.parent))
        self.info = self.ask({"op": "setup", "db": str(db)})

    def ask(self, command: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            tail = " | ".join(self.log.read_text(errors="replace").strip().splitlines()[-3:])
            raise RuntimeError(f"the MLflow worker exited (code {self.process.wait()}) during {command['op']}: {tail}")
        answer = json.loads(line)
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return answer

    def close(self) -> None:
        try:
            self.ask({"op": "quit"}) if self.process.poll() is None else None
        except (RuntimeError, BrokenPipeError, ValueError):
            pass
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


# ---------------------------------------------------------------------------- PostgreSQL

def postgres_schema() -> tuple[str | None, Callable[[], None], str]:
    """(url with a fresh schema, drop(), "") or (None, noop, why)."""
    try:
        import psycopg
    except ImportError as exc:
        return None, lambda: None, f"psycopg is not installed ({exc})"
    explicit = os.environ.get("LLMREG_BENCH_POSTGRES")
    if explicit:
        from sqlalchemy.engine import make_url

        u = make_url(explicit)
        candidates = [{"host": u.host or "127.0.0.1", "port": u.port or 5432, "dbname": u.database or "test",
                       "user": u.username, **({"password": u.password} if u.password else {})}]
    else:
        candidates = [{"host": "127.0.0.1", "port": 5432, "dbname": "test", "user": user} for user in ("root", "postgres")]
    errors = []
    for params in candidates:
        try:
            with psycopg.connect(connect_timeout=3, autocommit=True, **params) as conn:
                schema = f"llmreg_bench_{os.getpid()}_{uuid.uuid4().hex[:8]}"
                conn.execute(f'CREATE SCHEMA "{schema}"')
        except Exception as exc:  # noqa: BLE001 - report why and go on without PostgreSQL
            errors.append(f"{params['user']}@{params['host']}:{params['port']}/{params['dbname']}: {' '.join(str(exc).split())[:120]}")
            continue
        auth = quote(params["user"]) + (":" + quote(params["password"]) if params.get("password") else "")
        url = (f"postgresql+psycopg://{auth}@{params['host']}:{params['port']}/{params['dbname']}"
               f"?options=-csearch_path%3D{schema}")

        def drop(params=params, schema=schema) -> None:
            with psycopg.connect(autocommit=True, **params) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        return url, drop, ""
    return None, lambda: None, "no PostgreSQL server reachable (" + "; ".join(errors) + ")"


# ---------------------------------------------------------------------------- the measurements

def commit_floor(work: Path, n: int = 300) -> float:
    """Commits/s of a bare sqlite3 transaction as big as a registration's (a 2.3 KB event row, an
    entry row, the head update) with the store's synchronous setting: the disk's floor."""
    import sqlite3

    from llmreg.registry.store.connection import sqlite_synchronous

    path = work / f"floor-{uuid.uuid4().hex[:8]}.db"
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {sqlite_synchronous()}")
        conn.execute("CREATE TABLE ev (seq INTEGER PRIMARY KEY, payload TEXT)")
        conn.execute("CREATE TABLE en (name TEXT, version TEXT, seq INTEGER, PRIMARY KEY (name, version))")
        conn.execute("CREATE TABLE head (id INTEGER PRIMARY KEY, seq INTEGER)")
        conn.execute("INSERT INTO head VALUES (1, 0)")
        blob = "x" * 2300
        start = time.perf_counter()
        for i in range(n):
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO ev VALUES (?, ?)", (i, blob))
            conn.execute("INSERT INTO en VALUES ('a', ?, ?)", (str(i), i))
            conn.execute("UPDATE head SET seq = ? WHERE id = 1", (i,))
            conn.execute("COMMIT")
        return n / (time.perf_counter() - start)
    finally:
        conn.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def commit_floor_pg(url: str, n: int = 200) -> float:
    """The same bare transaction on PostgreSQL, one statement at a time (6 round trips): what
    the server and its WAL flush allow before any registry code runs."""
    from llmreg.registry.store.connection import PostgresConnector, parse_url

    conn = PostgresConnector(parse_url(url)).connect()
    try:
        # real tables in the bench's throwaway schema (temporary ones are not WAL-logged, so
        # their commits would skip the flush being measured)
        for table in ("floor_ev", "floor_en", "floor_hd"):
            conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.execute("CREATE TABLE floor_ev (seq BIGINT PRIMARY KEY, payload TEXT)")
        conn.execute("CREATE TABLE floor_en (name TEXT, version TEXT, seq BIGINT, PRIMARY KEY (name, version))")
        conn.execute("CREATE TABLE floor_hd (id INT PRIMARY KEY, seq BIGINT)")
        conn.execute("INSERT INTO floor_hd VALUES (1, 0)")
        blob = "x" * 2300
        start = time.perf_counter()
        for i in range(n):
            conn.execute("BEGIN")
            conn.execute("SELECT seq FROM floor_hd WHERE id = 1 FOR UPDATE")
            conn.execute("INSERT INTO floor_ev VALUES (%s, %s)", (i, blob))
            conn.execute("INSERT INTO floor_en VALUES ('a', %s, %s)", (str(i), i))
            conn.execute("UPDATE floor_hd SET seq = %s WHERE id = 1", (i,))
            conn.execute("COMMIT")
        return n / (time.perf_counter() - start)
    finally:
        conn.close()


def bench_store(side: Side, work: Path, rounds: int, resolve_n: int, register_n: int,
                mlflow: MlflowWorker | None, label: str) -> dict[str, Any]:
    """Interleaved rounds: ours uncached, ours cached, MLflow resolve; ours register, MLflow register;
    on SQLite, the bare commit floor in the same rounds; then listing every version, ours vs MLflow's search."""
    side.setup(work)
    uncached, cached, ml_resolve, round_rates, ml_rates, floors = [], [], [], [], [], []
    reg_s = reg_n = ml_s = ml_n = batch_s = batch_n = 0.0
    side.cpu_s = side.batch_cpu_s = 0.0
    with side.open(cache=False) as cold, side.open() as warm, side.open() as writer:
        side.resolve_samples(cold, 200)  # warm-up: statement cache, entry cache, page cache
        side.resolve_samples(warm, 200)
        side.register(writer, 20)
        for _ in range(rounds):
            uncached += side.resolve_samples(cold, resolve_n)
            cached += side.resolve_samples(warm, resolve_n)
            if mlflow is not None:
                ml_resolve += mlflow.ask({"op": "resolve", "n": resolve_n})["ns"]
            floors.append(commit_floor(work) if label == "sqlite" else commit_floor_pg(side.url))
            seconds = side.register(writer, register_n)
            round_rates.append(register_n / seconds)
            reg_s += seconds
            reg_n += register_n
            batch_s += side.register(writer, register_n, BATCH)
            batch_n += register_n
            if mlflow is not None:
                answer = mlflow.ask({"op": "register", "n": register_n})
                ml_rates.append(answer["n"] / answer["seconds"])
                ml_s += answer["seconds"]
                ml_n += answer["n"]
        versions = len(writer.versions(NAME))
        list_s = []
        for _ in range(3):
            start = time.perf_counter()
            rows, _ = writer.version_page(NAME)  # every version, as `llmreg list NAME --limit 0` reads them
            list_s.append(time.perf_counter() - start)
        listed = len(rows)

    def us(samples: list[int], pct: float) -> float:
        return percentile(samples, pct) / 1000.0

    out: dict[str, Any] = {
        "backend": label,
        "resolve_uncached_us": {"p50": us(uncached, 50), "p99": us(uncached, 99), "n": len(uncached)},
        "resolve_cached_us": {"p50": us(cached, 50), "p99": us(cached, 99), "n": len(cached)},
        "register_per_s": reg_n / reg_s,
        "register_per_s_by_round": round_rates,  # one name accumulating versions: shows any growth cost
        "registered": int(reg_n),
        "register_per_round": register_n,
        "versions_after": versions,
        "register_cpu_us": side.cpu_s / reg_n * 1e6,
        "register_batch_per_s": batch_n / batch_s, "register_batch_size": BATCH,
        "register_batch_cpu_us": side.batch_cpu_s / batch_n * 1e6,
        "list_all_s": min(list_s), "listed": listed,
    }
    if floors:
        out["commit_floor_per_s"] = sum(floors) / len(floors)
    if mlflow is not None:
        out["mlflow_resolve_us"] = {"p50": us(ml_resolve, 50), "p99": us(ml_resolve, 99), "n": len(ml_resolve)}
        out["mlflow_register_per_s"] = ml_n / ml_s
        out["mlflow_register_per_s_by_round"] = ml_rates
        out["mlflow_registered"] = int(ml_n)
        search = mlflow.ask({"op": "search", "tries": 3})
        out["mlflow_list_all_s"], out["mlflow_listed"] = min(search["seconds"]), search["rows"]
    return out


def bench_hashing(work: Path, size: int, rounds: int) -> dict[str, Any]:
    from llmreg.registry.artifacts import ArtifactStore, hash_file

    path = work / "blob.bin"
    chunk = os.urandom(16 << 20)
    with open(path, "wb") as fh:  # random-ish bytes: 16 MiB of urandom, each copy salted
        for i in range(size // len(chunk)):
            fh.write(i.to_bytes(8, "big") + chunk[8:])
    ours, base = [], []
    def baseline() -> str:
        with open(path, "rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()

    def candidate() -> str:
        digest, got = hash_file(path)
        if got != size:
            raise AssertionError(f"hash_file read {got} bytes of {size}")
        return digest

    try:
        expected = baseline()  # also pulls the file into the page cache: both then hash from memory
        for i in range(rounds):
            pairs = ((base, baseline), (ours, candidate))
            for timings, fn in (pairs if i % 2 == 0 else pairs[::-1]):  # ABBA: neither always goes first
                start = time.perf_counter()
                digest = fn()
                timings.append(time.perf_counter() - start)
                if digest != expected:
                    raise AssertionError("hash_file disagrees with hashlib")
        store = ArtifactStore(work / "artifacts")
        start = time.perf_counter()
        ref = store.put(path, "weights.bin", "weights")
        put_s = time.perf_counter() - start
        if ref.sha256 != expected:
            raise AssertionError("ArtifactStore.put disagrees with hashlib")
    finally:
        path.unlink(missing_ok=True)
        shutil.rmtree(work / "artifacts", ignore_errors=True)
    gib = size / GIB
    return {"bytes": size, "ours_gib_s": gib / min(ours), "hashlib_gib_s": gib / min(base),
            "ratio": min(base) / min(ours), "put_gib_s": gib / put_s,
            "ours_s": ours, "hashlib_s": base}


def build_log(registry, target_events: int, adapter: dict[str, Any], evidence_per_cycle: int = 5) -> int:
    """Release cycles through the API until the log holds `target_events` events."""
    names = [f"{NAME}-{i}" for i in range(8)]
    cycle = 0
    while registry.head_seq() < target_events:
        name = names[cycle % len(names)]
        spec = release_spec(adapter, 300 + cycle)
        spec["name"] = name
        entry = registry.register(spec, actor="alice")
        registry.record_eval(name, entry.version, {"suite": "triage-eval-v4", "score": 0.93, "run": f"run-{cycle}",
                                                   "segments": {"en": 0.94, "es": 0.91}, "threshold": 0.9}, actor="ci")
        release_to_production(registry, entry.version, name=name, evidence=evidence_per_cycle)
        cycle += 1
    return registry.head_seq()


def bench_audit(url: str, artifacts: str, work: Path, target_events: int, rounds: int) -> dict[str, Any]:
    from llmreg.registry.api import Registry
    from llmreg.registry.events import verify_rows

    with Registry.open(url, artifacts=artifacts) as registry:
        adapter = put_adapter(registry, work)
        start = time.perf_counter()
        events = build_log(registry, target_events, adapter)
        built_s = time.perf_counter() - start
    timings, hash_only = [], []
    with Registry.open(url, artifacts=artifacts) as registry:
        rows = list(registry.store.iter_event_rows())
        size = sum(len(r[7]) + len(r[8]) for r in rows)
        cpu = []
        for _ in range(rounds):
            start, cpu_start = time.perf_counter(), time.process_time()
            report = registry.verify_audit()
            timings.append(time.perf_counter() - start)
            cpu.append(time.process_time() - cpu_start)  # this process only (signature workers not counted)
            if not report.ok or report.events != events:
                raise AssertionError(f"audit: {report.summary()}")
            start = time.perf_counter()
            ok = verify_rows(rows)[0]
            hash_only.append(time.perf_counter() - start)
            assert ok
    return {"events": events, "events_per_s": events / min(timings), "events_per_cpu_s": events / min(cpu),
            "hash_only_events_per_s": events / min(hash_only),
            "avg_payload_bytes": size / len(rows), "seconds": timings, "log_build_s": built_s,
            "log_build_events_per_s": events / built_s}


# ---------------------------------------------------------------------------- report

@dataclass
class Row:
    metric: str
    ours: float | None
    baseline: float | None
    baseline_name: str
    unit: str
    lower_is_better: bool
    target: float | None = None
    target_text: str = ""
    value_for_target: float | None = None  # when the target is on the ratio, not on ours

    @property
    def ratio(self) -> float | None:
        if self.ours is None or self.baseline is None or not self.ours or not self.baseline:
            return None
        return self.baseline / self.ours if self.lower_is_better else self.ours / self.baseline

    @property
    def met(self) -> bool | None:
        if self.target is None:
            return None
        value = self.value_for_target if self.value_for_target is not None else self.ours
        if value is None:
            return None
        return value <= self.target if self.lower_is_better and self.value_for_target is None else value >= self.target

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "ours": self.ours, "baseline": self.baseline, "baseline_name": self.baseline_name,
                "unit": self.unit, "ratio": self.ratio, "target": self.target_text or None, "met": self.met}


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "us":
        return f"{value:,.2f} us" if value < 10 else f"{value:,.1f} us" if value < 1000 else f"{value:,.0f} us"
    if unit == "/s":
        return f"{value:,.0f} /s"
    if unit == "GiB/s":
        return f"{value:.2f} GiB/s"
    return f"{value:g} {unit}"


def rows_for(results: dict[str, Any], mlflow_name: str) -> list[Row]:
    rows: list[Row] = []
    for store in results.get("stores", []):
        backend = store["backend"]
        durability = store.get("durability", "")
        ml = store.get("mlflow_resolve_us")
        for key, label, target_key in (("resolve_uncached_us", "uncached", "resolve_uncached_p50_us"),
                                       ("resolve_cached_us", "cached", "resolve_cached_p50_us")):
            for pct in ("p50", "p99"):
                target = TARGETS[target_key] if pct == "p50" and backend == "sqlite" else None
                rows.append(Row(f"resolve {pct}, {label} ({backend})", store[key][pct], ml[pct] if ml else None,
                                f"{mlflow_name} get_model_version_by_alias" if ml else "", "us", True, target,
                                f"<= {target:g} us" if target else ""))
        target = TARGETS["register_per_s"] if backend == "sqlite" else TARGETS["register_pg_per_s"]
        ml_name = f"{mlflow_name} create_model_version" if store.get("mlflow_register_per_s") else ""
        rows.append(Row(f"registration, one per call ({backend}, {durability})", store["register_per_s"],
                        store.get("mlflow_register_per_s"), ml_name, "/s", False, target, f">= {target:,.0f} /s"))
        if store.get("register_batch_per_s"):
            # MLflow has no multi-version call: its one-per-call figure is its best.
            rows.append(Row(f"registration, {store['register_batch_size']} per transaction ({backend}, {durability})",
                            store["register_batch_per_s"], store.get("mlflow_register_per_s"), ml_name, "/s", False,
                            target, f">= {target:,.0f} /s"))
        rows.append(Row(f"registration CPU per version, one per call ({backend})", store["register_cpu_us"], None, "",
                        "us", True))
        if store.get("register_batch_cpu_us"):
            rows.append(Row(f"registration CPU per version, batched ({backend})", store["register_batch_cpu_us"],
                            None, "", "us", True))
        if store.get("commit_floor_per_s"):
            rows.append(Row(f"bare commit of the same size ({backend}, {durability})", store["commit_floor_per_s"],
                            None, "", "/s", False))
        rows.append(Row(f"list every version, {store['listed']:,} rows ({backend})", store["list_all_s"] * 1e6,
                        store.get("mlflow_list_all_s", 0) * 1e6 or None,
                        f"{mlflow_name} search_model_versions ({store.get('mlflow_listed', 0):,} rows)"
                        if store.get("mlflow_list_all_s") else "", "us", True))
    hashing = results.get("hashing")
    if hashing:
        rows.append(Row(f"artifact hashing, {hashing['bytes'] / GIB:g} GiB (hash_file)", hashing["ours_gib_s"],
                        hashing["hashlib_gib_s"], "hashlib.file_digest sha256", "GiB/s", False, TARGETS["hash_ratio"],
                        f">= {TARGETS['hash_ratio']:g}x hashlib", value_for_target=hashing["ratio"]))
        rows.append(Row("artifact put (hash + copy into the store)", hashing["put_gib_s"], hashing["hashlib_gib_s"],
                        "hashlib.file_digest sha256 (hash only)", "GiB/s", False))
    audit = results.get("audit")
    if audit:
        rows.append(Row(f"audit verify, {audit['events']:,} events (SQLite)", audit["events_per_s"], None, "", "/s", False,
                        TARGETS["audit_events_per_s"], f">= {TARGETS['audit_events_per_s']:,.0f} /s"))
    return rows


def print_table(rows: list[Row]) -> None:
    header = ("metric", "llm-registry", "baseline", "x better", "target", "")
    table = [header]
    for row in rows:
        ratio = f"{row.ratio:,.2f}x" if row.ratio is not None else "-"
        verdict = "" if row.met is None else ("met" if row.met else "MISSED")
        table.append((row.metric, fmt(row.ours, row.unit), fmt(row.baseline, row.unit), ratio, row.target_text, verdict))
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for i, line in enumerate(table):
        print("  ".join(cell.ljust(widths[j]) if j == 0 else cell.rjust(widths[j]) for j, cell in enumerate(line)))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    names = sorted({r.baseline_name for r in rows if r.baseline_name})
    if names:
        print("baselines: " + "; ".join(names))


def machine() -> dict[str, Any]:
    import sqlite3

    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), cpu)
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                                timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {"python": sys.version.split()[0], "platform": platform.platform(), "cpu": cpu, "cpus": os.cpu_count(),
            "sqlite": sqlite3.sqlite_version, "git_commit": commit}


# ---------------------------------------------------------------------------- main

def _bench_keyring() -> None:
    """Every write is signed by its actor's key: a throwaway key per bench actor (trust helper)."""
    if os.environ.get("LLMREG_KEYRING"):
        return
    import tempfile

    from llmreg.registry.keys import write_new_key

    ring = tempfile.mkdtemp(prefix="llmreg-bench-keys-")
    os.environ["LLMREG_KEYRING"] = ring
    for actor in ("alice", "bob", "carol", "dave", "ci", "rm", "admin", "system:slo-guard"):
        write_new_key(os.path.join(ring, f"{actor}.key"))


def main(argv: Sequence[str] | None = None) -> int:
    _bench_keyring()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller samples and a 256 MiB file (a smoke run)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per store (default 5)")
    parser.add_argument("--resolve-calls", type=int, default=4000, help="resolve calls per round and side")
    parser.add_argument("--register-versions", type=int, default=400,
                        help="registrations per round and side, all versions of one name (default 400)")
    parser.add_argument("--audit-events", type=int, default=60_000)
    parser.add_argument("--hash-bytes", type=int, default=GIB)
    parser.add_argument("--skip-mlflow", action="store_true")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-hash", action="store_true")
    parser.add_argument("--skip-audit", action="store_true")
    parser.add_argument("--mlflow-python", default=None, help="interpreter with MLflow (default: this one if it has "
                        "MLflow, else .tools/mlflow/bin/python; or $LLMREG_MLFLOW_PYTHON)")
    parser.add_argument("--json", default=str(RESULTS), help=f"write the figures here (default {RESULTS.relative_to(REPO)})")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.resolve_calls, args.register_versions = 2, 1000, 100
        args.audit_events, args.hash_bytes = 5_000, 256 << 20

    work = Path(tempfile.mkdtemp(prefix="llmreg-bench-"))
    results: dict[str, Any] = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "machine": machine(),
                               "loadavg_start": loadavg(), "args": vars(args), "stores": [], "skipped": {}}
    print(f"llm-registry bench: {results['machine']['cpus']} CPUs ({results['machine']['cpu']}), Python "
          f"{results['machine']['python']}, SQLite {results['machine']['sqlite']}; load average {results['loadavg_start']}")
    from llmreg.registry.store.connection import SYNCHRONOUS_ENV, sqlite_synchronous

    sync = sqlite_synchronous()
    results["durability"] = {
        "sqlite": f"synchronous={sync}" + (", durable commits" if sync in ("FULL", "EXTRA") else
                                           ", NOT durable: a power cut may drop the last commits"),
        "postgresql": "the server's synchronous_commit (durable unless the server turns it off)"}
    print(f"durability: SQLite WAL with synchronous={sync} (${SYNCHRONOUS_ENV}; FULL is the default); "
          f"MLflow's SQLite store at its default (synchronous=FULL); PostgreSQL as the server is configured")
    mlflow = None
    mlflow_name = "MLflow"
    try:
        if not args.skip_mlflow:
            python, why = find_mlflow_python(args.mlflow_python)
            if python is None:
                results["skipped"]["mlflow"] = why
                print(why)
            else:
                (work / "mlflow").mkdir()
                try:
                    mlflow = MlflowWorker(python, work / "mlflow" / "mlflow.db")
                except RuntimeError as exc:  # no MLflow there, or it cannot start: go on without it
                    results["skipped"]["mlflow"] = str(exc)
                    print(f"MLflow skipped: {exc}")
                else:
                    mlflow_name = f"MLflow {mlflow.info['version']}"
                    results["mlflow"] = mlflow.info
                    print(f"baseline: {mlflow_name} (SQLite backend) via {python}")

        print("resolve + registration on SQLite ...", flush=True)
        (work / "sqlite").mkdir()
        side = Side(f"sqlite:///{work / 'sqlite' / 'registry.db'}", str(work / "sqlite" / "artifacts"))
        results["stores"].append(bench_store(side, work / "sqlite", args.rounds, args.resolve_calls,
                                             args.register_versions, mlflow, "sqlite"))
        results["stores"][-1]["durability"] = results["durability"]["sqlite"]
        if mlflow is not None:
            mlflow.close()
            mlflow = None

        if not args.skip_postgres:
            url, drop, why = postgres_schema()
            if url is None:
                results["skipped"]["postgres"] = why
                print(f"PostgreSQL skipped: {why}")
            else:
                print("resolve + registration on PostgreSQL ...", flush=True)
                (work / "pg").mkdir()
                try:
                    side = Side(url, str(work / "pg" / "artifacts"))
                    with side.open() as probe:
                        setting = probe.store.conn().execute("SHOW synchronous_commit").fetchone()[0]
                    results["durability"]["postgresql"] = f"server synchronous_commit={setting}"
                    results["stores"].append(bench_store(side, work / "pg", args.rounds, args.resolve_calls,
                                                         max(args.register_versions // 2, 50), None, "postgresql"))
                    results["stores"][-1]["durability"] = results["durability"]["postgresql"]
                finally:
                    drop()

        if not args.skip_hash:
            print(f"artifact hashing on a {args.hash_bytes / GIB:g} GiB file ...", flush=True)
            results["hashing"] = bench_hashing(work, args.hash_bytes, 4)

        if not args.skip_audit:
            print(f"audit verification on a log of >= {args.audit_events:,} events (building it through the API) ...",
                  flush=True)
            (work / "audit").mkdir()
            results["audit"] = bench_audit(f"sqlite:///{work / 'audit' / 'registry.db'}", str(work / "audit" / "artifacts"),
                                           work / "audit", args.audit_events, 5)
    finally:
        if mlflow is not None:
            mlflow.close()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    results["loadavg_end"] = loadavg()
    rows = rows_for(results, mlflow_name)
    results["table"] = [row.to_dict() for row in rows]
    print()
    print_table(rows)
    for store in results["stores"]:
        rates = ", ".join(f"{r:,.0f}" for r in store["register_per_s_by_round"])
        line = f"registration per round ({store['backend']}, {store['register_per_round']} versions of one name each): {rates} /s"
        if store.get("mlflow_register_per_s_by_round"):
            line += "; MLflow: " + ", ".join(f"{r:,.0f}" for r in store["mlflow_register_per_s_by_round"]) + " /s"
        print(line)
    audit = results.get("audit")
    if audit:
        print(f"audit: {audit['events_per_cpu_s']:,.0f} events per CPU-second of the auditing process; "
              f"{audit['avg_payload_bytes']:.0f} bytes of payload+evidence per event on average; "
              f"re-hashing alone (rows in memory) {audit['hash_only_events_per_s']:,.0f} events/s")
    print(f"load average at start {results['loadavg_start']}, at end {results['loadavg_end']}")
    missed = [row.metric for row in rows if row.met is False]
    results["targets_met"] = not missed
    if args.json:
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2, default=str) + "\n")
        print(f"figures written to {out}")
    if missed:
        print("targets missed: " + "; ".join(missed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
