"""Verbs for provider snapshots: `llmreg providers` (the change log), `discover`, `qualify`,
`reevaluate`. Listing reads only the registry; the others import evals.providers (HTTP,
pandas) when they run."""
from __future__ import annotations

import contextlib
import sys

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
    import os

    from evals.providers import load_providers

    with _config_errors():
        return load_providers(args.config or os.environ.get("LLMREG_PROVIDERS") or DEFAULT_CONFIG)


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
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    if not records:
        lines.append("(no provider snapshots recorded yet: run `llmreg providers discover`)")
    for name, state in sorted(discovery.items()):
        if not state.ok:
            lines.append(f"! {name}: model list failing since {state.time}: {state.error}")
    return "\n".join(lines)


def cmd_providers(args) -> int:
    from llmreg.cli import _emit, _open

    reg = _open(args)
    records = reg.provider_log(provider=args.provider, family=args.family)
    discovery = reg.provider_discovery()
    _emit(args, {"snapshots": [r.to_dict() for r in records],
                 "discovery": {name: {"ok": d.ok, "time": d.time, "error": d.error} for name, d in discovery.items()}},
          lambda: format_table(records, discovery))
    return 0


def cmd_discover(args) -> int:
    from evals.providers import discover_provider
    from llmreg.cli import _actor, _emit, _open

    config = _load(args)
    actor = _actor(args)
    reg = _open(args)
    with _config_errors():
        chosen = [config.provider(args.provider)] if args.provider else list(config.providers)
    results = [discover_provider(reg, provider, actor=actor) for provider in chosen]

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
    _emit(args, {"providers": [r.to_dict() for r in results]}, text)
    return 0 if all(r.ok for r in results) else 1


def _print_progress(args, message: str) -> None:
    if not args.json:
        print(message, file=sys.stderr, flush=True)


def cmd_qualify(args) -> int:
    from evals.providers import qualify_key
    from llmreg.cli import _actor, _emit, _open

    config = _load(args)
    actor = _actor(args)
    reg = _open(args)
    _print_progress(args, f"qualifying {args.key} (suite runs over HTTP; this takes a while)")
    with _config_errors():
        result = qualify_key(reg, config, args.key, actor=actor, root=args.root, trigger="cli")
    _emit(args, result.to_dict(with_report=args.report), result.summary())
    return 0 if result.status == "qualified" else 1


def cmd_reevaluate(args) -> int:
    from evals.providers import reevaluate
    from llmreg.cli import _actor, _emit, _open

    config = _load(args)
    actor = _actor(args)
    reg = _open(args)
    with _config_errors():
        results = reevaluate(reg, config, actor=actor, root=args.root, trigger="cli")
    _emit(args, {"results": [r.to_dict() for r in results]},
          lambda: "\n".join(r.summary() for r in results) or "no followed snapshots: run `llmreg providers discover`")
    return 0 if all(r.status != "failed" for r in results) else 1


def add_verbs(sub, verb) -> None:
    """Add this module's verbs to the `llmreg` parser (`verb(sub, name, func, summary, example)`)."""
    p = verb(sub, "providers", cmd_providers,
             "The provider snapshot change log (provider, family, snapshot, first seen, status, score, shutdown "
             "date); actions: discover, qualify, reevaluate.",
             "llmreg providers --provider openai --json")
    p.add_argument("--provider", help="only this provider")
    p.add_argument("--family", help="only this model family")
    actions = p.add_subparsers(dest="providers_verb", metavar="ACTION", parser_class=type(p))
    actions.required = False

    def config_option(q) -> None:
        q.add_argument("--config", default=None,
                       help=f"providers.yaml; default: $LLMREG_PROVIDERS or ./{DEFAULT_CONFIG}")

    q = verb(actions, "discover", cmd_discover,
             "Read each provider's GET /v1/models and record new, delisted and deprecated snapshots "
             "(floating aliases are never recorded); exit 1 if a provider failed (recorded too).",
             "llmreg providers discover --config providers.yaml --actor ci", writes=True)
    config_option(q)
    q.add_argument("--provider", help="only this provider")

    q = verb(actions, "qualify", cmd_qualify,
             "Run the family's pinned suite against one snapshot and record qualified/rejected/failed; a qualified "
             "snapshot newer than a production pin drafts a registry version. Exit 0 only when qualified.",
             "llmreg providers qualify local-vllm/triage-2026-06-01 --actor ci", writes=True)
    config_option(q)
    q.add_argument("key", help="PROVIDER/SNAPSHOT as `llmreg providers` lists it")
    q.add_argument("--root", default=".", help="project root the suite's paths resolve against; default: .")
    q.add_argument("--report", action="store_true", help="with --json: include the full eval report")

    q = verb(actions, "reevaluate", cmd_reevaluate,
             "Re-run the pinned suites against every followed, listed snapshot (what the schedule does).",
             "llmreg providers reevaluate --actor ci", writes=True)
    config_option(q)
    q.add_argument("--root", default=".", help="project root the suite's paths resolve against; default: .")

