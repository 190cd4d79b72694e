"""How time travel and listing grow with the store: a scaling table, 0 / 10k / 100k versions, 1M events.

    python -m bench.scale_bench [--quick] [--events 1000000] [--names 10000] [--json PATH]

One SQLite store grows through four sizes (a few versions; 10k; 100k; then stage events
until the log holds `--events`). At each size:
- `resolve --at`: `Registry.resolve(name, env, at=T)` at random past moments T (the
  stage_history index seek plus the entry, cached as resolve caches it), p50/p99; the bare
  `store.stage_at` seek; and the log fold it replaced (`store.stages_at`, every stage event
  of the name and env read and folded), so before and after come from the same run;
- `llmreg list NAME` (first page, the default 100 rows) and `llmreg list NAME --limit 0`
  (every version): whole CLI process, wall time, time inside `llmreg.cli.main` and peak RSS
  (the child's own VmHWM).
A second store holds `--names` names (one version each) for `llmreg list` (first page and all).

The log is built by appending events straight through the store's unit of work (real
hashed, chained events, projected as the registry projects them), not through the handlers'
gates: 1M events through `register`/`promote` would take an hour. Building uses
synchronous=NORMAL (not what is measured); the measured reads do not write.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

REPO = Path(__file__).resolve().parents[1]
NAME = "support-triage"
ENV = "default"
STAGES = ("staging", "canary", "production")


def percentile(samples: Sequence[float], pct: float) -> float:
    ordered = sorted(samples)
    rank = max(1, -(-len(ordered) * pct // 100))
    return float(ordered[int(rank) - 1])


class Builder:
    """Appends entry.registered and stage events to one store, 100 events a transaction (each
    transaction has its own timestamp, so past moments fall between them)."""

    def __init__(self, registry, template: dict[str, Any]):
        self.registry = registry
        self.template = template  # a registered entry's payload: copied per version
        self.versions: list[str] = []
        self.holders: dict[str, str] = {}

    def _version(self, n: int) -> str:
        return f"1.{n // 1000}.{n % 1000}"

    def add_versions(self, count: int, promote_every: int = 10) -> None:
        from llmreg.registry import events as ev

        todo = list(range(len(self.versions), len(self.versions) + count))
        while todo:
            batch, todo = todo[:100], todo[100:]
            with self.registry.store.unit_of_work() as uow:
                for n in batch:
                    version = self._version(n)
                    entry = dict(self.template["entry"], version=version, seq=uow.next_seq, created_at=uow.time,
                                 previous=self.versions[-1] if self.versions else None, bump="patch",
                                 bump_reason="patch: params.max_tokens")
                    uow.append(ev.ENTRY_REGISTERED, actor="alice", name=NAME, version=version,
                               payload=dict(self.template, entry=entry))
                    self.versions.append(version)
                    if n % promote_every == 0:
                        self._promote(uow, version)

    def _promote(self, uow, version: str) -> None:
        from llmreg.registry import events as ev

        for stage in STAGES:
            uow.append(ev.STAGE_PROMOTED, actor="rm", name=NAME, version=version, env=ENV,
                       payload={"stage": stage, "from": "development", "displaced": self.holders.get(stage),
                                "weight": 0.1 if stage == "canary" else None})
            self.holders[stage] = version

    def add_stage_events(self, until_events: int, pool: int = 2000) -> None:
        """Release cycles (staging, canary, production) among the last `pool` versions."""
        recent = self.versions[-pool:]
        i = 0
        while self.registry.store.head_seq() < until_events:
            with self.registry.store.unit_of_work() as uow:
                for _ in range(33):
                    self._promote(uow, recent[i % len(recent)])
                    i += 1


# The child reports its own peak RSS (VmHWM of its own address space: ru_maxrss of a child
# would include the parent's pages at fork) and the time spent in `llmreg.cli.main`.
_CHILD = """
import sys, time
start = time.perf_counter()
from llmreg.cli import main
code = main(sys.argv[1:])
spent = time.perf_counter() - start
hwm = next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:"))
sys.stderr.write(f"\\nBENCH {spent} {int(hwm) / 1024}\\n")
sys.exit(code)
"""


def run_cli(args: list[str], url: str) -> tuple[float, float, float, int]:
    """(process wall s, s inside llmreg.cli.main incl. its imports, peak RSS MiB, stdout lines)."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("LLMREG_SQLITE_SYNCHRONOUS", None)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _CHILD, *args, "--store", url], capture_output=True, env=env,
                          cwd=str(REPO))
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"llmreg {' '.join(args)} exited {proc.returncode}: {proc.stderr.decode()[-300:]}")
    marker = proc.stderr.decode().rsplit("BENCH ", 1)[1].split()
    return wall, float(marker[0]), float(marker[1]), proc.stdout.count(b"\n")


def best_cli(args: list[str], url: str, tries: int) -> dict[str, float]:
    runs = [run_cli(args, url) for _ in range(tries)]
    return {"wall_s": min(r[0] for r in runs), "main_s": min(r[1] for r in runs),
            "rss_mib": max(r[2] for r in runs), "lines": runs[0][3], "tries": tries}


def measure(registry, builder: Builder, url: str, samples: int, fold_samples: int, cli_tries: int,
            after: int) -> dict[str, Any]:
    store = registry.store
    head = store.head()
    # past moments since production was first held (the newest 200k events' times at most)
    times = [row[1] for row in store.iter_event_rows(after=max(after, head.seq - 200_000))]
    rng = random.Random(7)
    moments = [rng.choice(times) for _ in range(samples)]
    clock = time.perf_counter_ns
    cold_ns = []
    for moment in moments:  # first pass: entries read as they come (cold), statement cache, pages
        start = clock()
        registry.resolve(NAME, ENV, at=moment)
        cold_ns.append(clock() - start)
    at_ns, seek_ns = [], []
    for moment in moments:
        start = clock()
        resolved = registry.resolve(NAME, ENV, at=moment)
        at_ns.append(clock() - start)
        start = clock()
        row = store.stage_at(NAME, ENV, "production", moment)
        seek_ns.append(clock() - start)
        folded = store.stages_at(NAME, ENV, moment).get("production") if len(seek_ns) <= 20 else None
        if row is None or row[0] != resolved.version or (folded is not None and folded[0] != row[0]):
            raise AssertionError(f"resolve --at {moment}: {resolved.version} / {row} / {folded}")
    fold_ns = []
    for moment in moments[:fold_samples]:
        start = clock()
        store.stages_at(NAME, ENV, moment)
        fold_ns.append(clock() - start)
    out: dict[str, Any] = {
        "versions": len(builder.versions), "events": head.seq,
        "resolve_at_us": {"p50": percentile(at_ns, 50) / 1e3, "p99": percentile(at_ns, 99) / 1e3, "n": len(at_ns)},
        "resolve_at_first_pass_us": {"p50": percentile(cold_ns, 50) / 1e3, "p99": percentile(cold_ns, 99) / 1e3},
        "stage_at_us": {"p50": percentile(seek_ns, 50) / 1e3, "p99": percentile(seek_ns, 99) / 1e3},
        "fold_us": {"p50": percentile(fold_ns, 50) / 1e3, "n": len(fold_ns)},
        "list_name_page": best_cli(["list", NAME], url, cli_tries),
        "list_name_all": best_cli(["list", NAME, "--limit", "0"], url, cli_tries),
    }
    return out


def build_names(registry, template: dict[str, Any], count: int) -> None:
    from llmreg.registry import events as ev

    for start in range(0, count, 100):
        with registry.store.unit_of_work() as uow:
            for n in range(start, min(start + 100, count)):
                name = f"app-{n:06d}"
                spec = dict(template["entry"]["spec"], name=name)
                entry = dict(template["entry"], spec=spec, version="1.0.0", seq=uow.next_seq, created_at=uow.time,
                             previous=None, bump="initial", bump_reason="first version")
                uow.append(ev.ENTRY_REGISTERED, actor="alice", name=name, version="1.0.0",
                           payload=dict(template, entry=entry, changes=[]))
                if n % 3 == 0:
                    uow.append(ev.STAGE_PROMOTED, actor="rm", name=name, version="1.0.0", env=ENV,
                               payload={"stage": "production", "from": "development", "displaced": None,
                                        "weight": None})


def rss_mib() -> float:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:")) / 1024.0


def bulk_memory(work: Path, count: int) -> dict[str, Any]:
    """RSS of one process registering `count` names through `Registry.register` (the real path)."""
    import gc

    from bench.registry_bench import put_adapter, release_spec
    from llmreg.registry.api import Registry

    marks = {}
    with Registry.open(f"sqlite:///{work / 'bulk.db'}", artifacts=str(work / "bulk-artifacts")) as registry:
        adapter = put_adapter(registry, work)
        start = time.perf_counter()
        for n in range(count):
            spec = release_spec(adapter)
            spec["name"] = f"bulk-{n:06d}"
            registry.register(spec, actor="alice")
            if (n + 1) in (count // 10, count // 2, count):
                gc.collect()
                marks[n + 1] = rss_mib()
        seconds = time.perf_counter() - start
    return {"names": count, "rss_mib": marks, "per_s": count / seconds}


def fmt_row(cells: Sequence[str], widths: Sequence[int]) -> str:
    return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))


def print_table(points: list[dict[str, Any]], names: dict[str, Any] | None) -> None:
    header = ("store", "resolve --at p50", "p99", "first pass p50", "index seek p50", "log fold p50 (before)",
              "list NAME (page)", "list NAME --limit 0")
    rows = [header]
    for p in points:
        page, full = p["list_name_page"], p["list_name_all"]
        rows.append((f"{p['versions']:,} versions, {p['events']:,} events",
                     f"{p['resolve_at_us']['p50']:.1f} us", f"{p['resolve_at_us']['p99']:.1f} us",
                     f"{p['resolve_at_first_pass_us']['p50']:.1f} us",
                     f"{p['stage_at_us']['p50']:.1f} us", f"{p['fold_us']['p50'] / 1000:,.2f} ms",
                     cli_cell(page), cli_cell(full)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    for i, row in enumerate(rows):
        print(fmt_row(row, widths))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    if names:
        print(f"llmreg list at {names['names']:,} names: first page {cli_cell(names['page'])}; "
              f"--limit 0 {cli_cell(names['all'])}")
    print("CLI cells: whole process wall (in llmreg.cli.main, imports included) peak RSS; best of the tries")


def cli_cell(run: dict[str, float]) -> str:
    return f"{run['wall_s']:.3f} s ({run['main_s']:.3f}) {run['rss_mib']:.0f} MiB"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1k/10k versions, 100k events, 2k names")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--names", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=5000, help="resolve --at calls per size")
    parser.add_argument("--bulk-names", type=int, default=10_000,
                        help="names registered by one process for the memory check (0: skip)")
    parser.add_argument("--cli-tries", type=int, default=3, help="CLI runs per figure (best wall time)")
    parser.add_argument("--json", default=str(REPO / "bench" / "results" / "scale.json"))
    args = parser.parse_args(argv)
    sizes = [10, 10_000, 100_000]
    if args.quick:
        sizes, args.events, args.names, args.samples = [10, 1_000, 10_000], 100_000, 2_000, 2000
        args.bulk_names = min(args.bulk_names, 2_000)
    os.environ["LLMREG_SQLITE_SYNCHRONOUS"] = "NORMAL"  # building only: nothing measured here commits
    sys.path.insert(0, str(REPO))
    from bench.registry_bench import loadavg, put_adapter, release_spec
    from llmreg.registry.api import Registry

    # CLI figures are for an installed package, whose bytecode pip compiled: compile it here too
    # (PYTHONDONTWRITEBYTECODE would otherwise make every child compile ~45 modules, ~0.14 s).
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "llmreg")], check=True,
                   stdout=subprocess.DEVNULL)
    work = Path(tempfile.mkdtemp(prefix="llmreg-scale-"))
    results: dict[str, Any] = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                               "loadavg_start": loadavg(), "points": []}
    print(f"scale bench: load average {results['loadavg_start']}", flush=True)
    try:
        url = f"sqlite:///{work / 'scale.db'}"
        with Registry.open(url, artifacts=str(work / "artifacts")) as registry:
            adapter = put_adapter(registry, work)
            first = registry.register(release_spec(adapter), actor="alice")
            template = json.loads(next(registry.store.iter_event_rows(after=first.seq - 1))[7])
            builder = Builder(registry, template)
            builder.versions.append(first.version)
            with registry.store.unit_of_work() as uow:
                builder._promote(uow, first.version)  # from here on, something holds production
                results["first_promotion_seq"] = uow.next_seq
            for size in sizes:
                builder.add_versions(size - len(builder.versions))
                print(f"  {len(builder.versions):,} versions, {registry.store.head_seq():,} events: measuring",
                      flush=True)
                results["points"].append(measure(registry, builder, url, args.samples, 50, args.cli_tries,
                                                 results["first_promotion_seq"]))
            builder.add_stage_events(args.events)
            print(f"  {registry.store.head_seq():,} events: measuring", flush=True)
            results["points"].append(measure(registry, builder, url, args.samples, 10, args.cli_tries,
                                                 results["first_promotion_seq"]))
        names_url = f"sqlite:///{work / 'names.db'}"
        with Registry.open(names_url, artifacts=str(work / "artifacts")) as registry:
            build_names(registry, template, args.names)
        results["names"] = {"names": args.names, "page": best_cli(["list"], names_url, args.cli_tries),
                            "all": best_cli(["list", "--limit", "0"], names_url, args.cli_tries)}
        if args.bulk_names:
            print(f"  one process registering {args.bulk_names:,} names: RSS", flush=True)
            results["bulk"] = bulk_memory(work, args.bulk_names)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["loadavg_end"] = loadavg()
    print()
    print_table(results["points"], results.get("names"))
    bulk = results.get("bulk")
    if bulk:
        marks = ", ".join(f"{n:,}: {mib:.0f} MiB" for n, mib in bulk["rss_mib"].items())
        print(f"RSS of one process registering {bulk['names']:,} names (after n names): {marks}")
    print(f"load average at start {results['loadavg_start']}, at end {results['loadavg_end']}")
    if args.json:
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2) + "\n")
        print(f"figures written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
