"""Provider snapshot verbs: `providers` (the change log), `providers discover|qualify|reevaluate`.

Listing reads only the registry; the actions import evals.providers (HTTP, pandas) when they run.
"""
from __future__ import annotations

import contextlib
import os
import sys

from llmreg.cli.context import EXIT_OK, EXIT_REFUSED, actor, emit, open_registry

DEFAULT_CONFIG = "providers.yaml"
COLUMNS = ("PROVIDER", "FAMILY", "SNAPSHOT", "FIRST SEEN (UTC)", "STATUS", "SCORE", "SHUTDOWN")


@contextlib.contextmanager
def _config_errors():
    """providers.yaml problems are bad input (exit 2), one line naming the field."""
    from evals.providers import ProvidersConfigError
    from llmreg.registry.errors import BadInput

    try:
        yield
    except ProvidersConfigError as exc:
        raise BadInput(str(exc), field="config") from None


def _load(args):
    from evals.providers import load_providers

    with _config_errors():
        return load_providers(args.config or os.environ.get("LLMREG_PROVIDERS") or DEFAULT_CONFIG)


def _config_option(p) -> None:
    p.add_argument("--config", default=None, help=f"providers.yaml; default: $LLMREG_PROVIDERS or ./{DEFAULT_CONFIG}")


def _row(record) -> tuple[str, ...]:
    status = record.status if record.listed else f"{record.status} (delisted)"
    if record.status in ("qualifying", "failed") and record.verdict:
        status += f", was {record.verdict}"
    first = record.first_seen[:16].replace("T", " ") if record.first_seen else "-"
    score = f"{record.score:.3f}" if record.score is not None else "-"
    return (record.provider, record.family or "-", record.snapshot, first, status, score,
            record.shutdown_date or "-")


def format_table(records, discovery) -> str:
    """The change log as an aligned text table, with failing providers below it."""
    rows = [COLUMNS] + [_row(r) for r in records]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    if not records:
        lines.append("(no provider snapshots recorded yet: run `llmreg providers discover`)")
    for name, state in sorted(discovery.items()):
        if not state.ok:
            lines.append(f"! {name}: model list failing since {state.time}: {state.error}")
    return "\n".join(lines)


def _progress(args, message: str) -> None:
    if not args.json:
        print(message, file=sys.stderr, flush=True)


class Providers:
    """The provider snapshot change log (provider, family, snapshot, first seen, status, score,
    shutdown date). Actions: `llmreg providers discover|qualify|reevaluate` (see their --help)."""

    def arguments(self, p) -> None:
        p.add_argument("--provider", help="only this provider")
        p.add_argument("--family", help="only this model family")

    def run(self, args) -> int:
        reg = open_registry(args)
        records = reg.provider_log(provider=args.provider, family=args.family)
        discovery = reg.provider_discovery()
        emit(args, {"snapshots": [r.to_dict() for r in records],
                    "discovery": {name: {"ok": d.ok, "time": d.time, "error": d.error}
                                  for name, d in discovery.items()}},
             lambda: format_table(records, discovery))
        return EXIT_OK


class Discover:
    """Read each provider's GET /v1/models and record new, delisted and deprecated snapshots
    (floating aliases are never recorded); exit 1 if a provider failed (recorded too)."""

    def arguments(self, p) -> None:
        _config_option(p)
        p.add_argument("--provider", help="only this provider")

    def run(self, args) -> int:
        from evals.providers import discover_provider

        config = _load(args)
        who = actor(args)
        reg = open_registry(args)
        with _config_errors():
            chosen = [config.provider(args.provider)] if args.provider else list(config.providers)
        results = [discover_provider(reg, provider, actor=who) for provider in chosen]

        def text() -> str:
            lines = []
            for r in results:
                if not r.ok:
                    lines.append(f"{r.provider}: FAILED (recorded): {r.error}")
                    continue
                lines.append(f"{r.provider}: {len(r.listed)} followed snapshot(s) listed, {len(r.new)} new, "
                             f"{len(r.changes)} change(s) recorded")
                lines += [f"  + {key}" for key in r.new]
                lines += [f"  ~ {c['snapshot']}: {c['status']}" for c in r.changes if c.get("status") != "seen"]
                lines += [f"  alias, not recorded: {i} ({f}): {why}" for i, f, why in r.aliases]
            return "\n".join(lines)
        emit(args, {"providers": [r.to_dict() for r in results]}, text)
        return EXIT_OK if all(r.ok for r in results) else EXIT_REFUSED


class Qualify:
    """Run the family's pinned suite against one snapshot and record qualified/rejected/failed; a
    qualified snapshot newer than a production pin drafts a registry version. Exit 0 only when qualified."""

    def arguments(self, p) -> None:
        _config_option(p)
        p.add_argument("key", help="PROVIDER/SNAPSHOT as `llmreg providers` lists it")
        p.add_argument("--root", default=".", help="project root the suite's paths resolve against; default: .")
        p.add_argument("--report", action="store_true", help="with --json: include the full eval report")

    def run(self, args) -> int:
        from evals.providers import qualify_key

        config = _load(args)
        who = actor(args)
        reg = open_registry(args)
        _progress(args, f"qualifying {args.key} (suite runs over HTTP; this takes a while)")
        with _config_errors():
            result = qualify_key(reg, config, args.key, actor=who, root=args.root, trigger="cli")
        emit(args, result.to_dict(with_report=args.report), result.summary())
        return EXIT_OK if result.status == "qualified" else EXIT_REFUSED


class Reevaluate:
    """Re-run the pinned suites against every followed, listed snapshot (what the schedule does)."""

    def arguments(self, p) -> None:
        _config_option(p)
        p.add_argument("--root", default=".", help="project root the suite's paths resolve against; default: .")

    def run(self, args) -> int:
        from evals.providers import reevaluate

        config = _load(args)
        who = actor(args)
        reg = open_registry(args)
        with _config_errors():
            results = reevaluate(reg, config, actor=who, root=args.root, trigger="cli")
        emit(args, {"results": [r.to_dict() for r in results]},
             lambda: "\n".join(r.summary() for r in results) or "no followed snapshots: run `llmreg providers discover`")
        return EXIT_OK if all(r.status != "failed" for r in results) else EXIT_REFUSED
