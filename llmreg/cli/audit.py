"""Audit verbs: `audit log` (and `history NAME`) shows events, `audit verify` walks the hash chain."""
from __future__ import annotations

import sys

from llmreg.cli.context import EXIT_OK, EXIT_REFUSED, emit, open_registry, positive_int


class AuditLog:
    """Show events, oldest first (with --limit N: the newest N, still oldest first)."""

    def arguments(self, p) -> None:
        p.add_argument("--name")
        self.filters(p)

    def filters(self, p) -> None:
        p.add_argument("--env")
        p.add_argument("--type", action="append", help="event type (repeatable), e.g. stage.promoted")
        p.add_argument("--since", help="ISO-8601 time")
        p.add_argument("--until", help="ISO-8601 time")
        p.add_argument("--limit", type=positive_int, help="only the newest N events (N >= 1)")

    def run(self, args) -> int:
        from llmreg.registry.audit import describe

        reg = open_registry(args)
        types = tuple(args.type) if args.type else None
        events = reg.events(name=args.name, env=args.env, types=types, since=args.since, until=args.until,
                               limit=args.limit, newest_first=args.limit is not None)
        if args.limit is not None:
            events.reverse()
        emit(args, [e.to_dict() for e in events], lambda: "\n".join(describe(e) for e in events) or "no events")
        return EXIT_OK


class History(AuditLog):
    """`audit log --name NAME`: one entry's events (registrations, evals, gates, promotions,
    rejected candidates, ...), oldest first."""

    def arguments(self, p) -> None:
        p.add_argument("name", help="entry name, e.g. support-triage")
        self.filters(p)


class AuditVerify:
    """Walk the hash chain; exit 1 if any event was changed, removed or reordered."""

    def arguments(self, p) -> None:
        pass

    def run(self, args) -> int:
        report = open_registry(args).verify_audit()
        emit(args, report.to_dict(), report.summary())
        if not report.ok:
            print(f"llmreg audit verify: integrity check failed: {report.summary()}", file=sys.stderr)
            return EXIT_REFUSED
        return EXIT_OK
