"""Stage verbs: `promote` through the gates, `rollback` production (or pull a canary), `archive`."""
from __future__ import annotations

from llmreg.cli.context import ENV_HELP, EXIT_OK, actor, emit, open_registry, parse_ref, read_mapping


class Promote:
    """Promote a version to the next stage if every gate passes (staging: eval >= threshold;
    canary: review + fairness; production: canary SLO + two approvals)."""

    def arguments(self, p) -> None:
        p.add_argument("ref", help="NAME@VERSION")
        p.add_argument("--to", required=True, choices=("staging", "canary", "production", "archived"))
        p.add_argument("--env", default="default", help=ENV_HELP)
        p.add_argument("--evidence", help="YAML/JSON file attached to the promotion; with kind: canary_slo it is "
                                          "also recorded as gate evidence")
        p.add_argument("--weight", type=float, help="canary traffic share in (0, 1]; default 0.1")

    def run(self, args) -> int:
        reg = open_registry(args)
        name, version = parse_ref(args.ref)
        evidence = read_mapping(args.evidence, "evidence") if args.evidence else None
        if args.to == "archived":  # the same gates as `llmreg archive`, through the explicit method
            event = reg.archive(name, version, args.env, actor=actor(args), evidence=evidence)
        else:
            event = reg.promote(name, version, args.to, args.env, actor=actor(args), evidence=evidence,
                                weight=args.weight)

        def text() -> str:
            lines = [f"promoted {name}@{version} to {args.to} in {args.env} (event #{event.seq})"]
            for gate in event.evidence.get("gates", []):
                lines.append(f"  passed {gate['gate']}: {gate['detail']}")
            return "\n".join(lines)
        emit(args, event.to_dict(), text)
        return EXIT_OK


class Rollback:
    """Put an earlier production version back in production (default: the newest one older than
    the current), or with --stage canary pull the canary."""

    def arguments(self, p) -> None:
        p.add_argument("name", help="entry name, e.g. support-triage")
        p.add_argument("--env", default="default", help=ENV_HELP)
        p.add_argument("--to", help="the former production version to restore")
        p.add_argument("--reason", default="", help="why (recorded on the event)")
        p.add_argument("--stage", default="production", choices=("production", "canary"),
                       help="canary: pull the canary (its version goes back to development); default: production")
        p.add_argument("--evidence", help="YAML/JSON file kept on the event (e.g. the SLO figures behind it)")
        p.add_argument("--drill", action="store_true", help="rehearse it instead: check the target, move nothing, "
                       "record a rollback.drill event (see llmreg drill --help)")
        from llmreg.cli.ops import add_drill_options

        add_drill_options(p)

    def run(self, args) -> int:
        if args.drill:
            from llmreg.cli.ops import run_drill

            return run_drill(args)
        reg = open_registry(args)
        evidence = read_mapping(args.evidence, "evidence") if args.evidence else None
        if args.stage == "canary":
            if args.to is not None:
                from llmreg.registry.errors import BadInput

                raise BadInput("to: pulling a canary restores nothing; leave out --to", field="to")
            event = reg.pull_canary(args.name, args.env, actor=actor(args), reason=args.reason or "",
                                    evidence=evidence)
        else:
            event = reg.rollback(args.name, args.env, actor=actor(args), to=args.to, reason=args.reason or "",
                                 evidence=evidence)
        if args.stage == "canary":
            text = f"pulled {args.name}@{event.version} from canary in {args.env} (event #{event.seq})"
        else:
            text = (f"rolled back {args.name} in {args.env}: production {event.payload['from']} -> {event.version} "
                    f"(event #{event.seq})")
        emit(args, event.to_dict(), text)
        return EXIT_OK


class Archive:
    """Archive a version in an environment (never the production holder)."""

    def arguments(self, p) -> None:
        p.add_argument("ref", help="NAME@VERSION")
        p.add_argument("--env", default="default", help=ENV_HELP)

    def run(self, args) -> int:
        reg = open_registry(args)
        name, version = parse_ref(args.ref)
        event = reg.archive(name, version, args.env, actor=actor(args))
        emit(args, event.to_dict(), f"archived {name}@{version} in {args.env} (event #{event.seq})")
        return EXIT_OK
