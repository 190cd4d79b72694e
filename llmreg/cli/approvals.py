"""Human sign-off verbs: `approve` for production, `review` of eval results (needed for canary)."""
from __future__ import annotations

from llmreg.cli.context import ENV_HELP, EXIT_OK, actor, emit, open_registry, parse_ref


class Approve:
    """Sign off a version for production (two distinct approvers, neither the author, are required)."""

    def arguments(self, p) -> None:
        p.add_argument("ref", help="NAME@VERSION")
        p.add_argument("--to", required=True, help="the stage approved for (production)")
        p.add_argument("--env", default="default", help=ENV_HELP)
        p.add_argument("--withdraw", action="store_true", help="withdraw your earlier approval")

    def run(self, args) -> int:
        reg = open_registry(args)
        name, version = parse_ref(args.ref)
        verb_of = reg.withdraw_approval if args.withdraw else reg.approve
        event = verb_of(name, version, args.to, args.env, actor=actor(args))
        verb = "withdrew approval of" if args.withdraw else "approved"
        emit(args, event.to_dict(),
             f"{event.actor} {verb} {name}@{version} for {args.to} in {args.env} (event #{event.seq})")
        return EXIT_OK


class Review:
    """Record a human review of a version's eval results (needed for canary)."""

    def arguments(self, p) -> None:
        p.add_argument("ref", help="NAME@VERSION")
        p.add_argument("--env", default="default", help=ENV_HELP)
        decision = p.add_mutually_exclusive_group()
        decision.add_argument("--reject", action="store_true", help="reject (blocks canary until you approve)")
        decision.add_argument("--comment", action="store_true", help="a comment only, no decision")
        p.add_argument("--notes", default="", help="what you checked")

    def run(self, args) -> int:
        reg = open_registry(args)
        name, version = parse_ref(args.ref)
        decision = "reject" if args.reject else "comment" if args.comment else "approve"
        event = reg.review(name, version, args.env, actor=actor(args), decision=decision, notes=args.notes or "")
        emit(args, event.to_dict(),
             f"review of {name}@{version} in {args.env}: {decision} by {event.actor} (event #{event.seq})")
        return EXIT_OK
