"""Operations verbs: retention (`gc`, `retention set|show`) and rollback drills (`drill`, and
`rollback NAME --drill`, which stages.Rollback hands to `run_drill`).

    llmreg retention set retention.yaml --actor admin
    llmreg gc --dry-run                      # what would go, and why each kept version stays
    llmreg gc --actor ops                    # remove; one audited artifacts.collected event per name
    llmreg rollback support-triage --env default --drill --actor ops --prompts prompts/
    llmreg drill --all --actor system:rollback-drill --gateway-config gateway.yaml

A failed drill is recorded and exits 1 (one line on stderr), so a cron job or CI step fails with it.
"""
from __future__ import annotations

import os
import sys

from llmreg.cli.context import ENV_HELP, EXIT_OK, EXIT_REFUSED, actor, emit, open_registry


def add_drill_options(p) -> None:
    """Options a drill takes; `rollback --drill` shares them."""
    p.add_argument("--prompts", default=None,
                   help="prompts directory: the drill checks the target's template resolves there")
    p.add_argument("--gateway-config", default=None,
                   help="gateway config (YAML): the drill loads the target the way that gateway would")


def run_drill(args) -> int:
    """`drill` and `rollback --drill`: drill one (name, env) or, with --all, every production holder."""
    from llmreg.drill_checks import gateway_checks
    from llmreg.registry.errors import BadInput

    if getattr(args, "to", None) or getattr(args, "stage", "production") != "production":
        raise BadInput("drill: a drill rehearses `rollback NAME --env ENV` (production, default target); "
                       "leave out --to and --stage", field="drill")
    every = getattr(args, "all", False)
    if every and args.name:
        raise BadInput("name: --all drills every name; leave out NAME or --all", field="name")
    if not every and not args.name:
        raise BadInput("name: which entry? pass NAME (or --all for every name with a production version)",
                       field="name")
    config = None
    if args.gateway_config:
        from llmreg.serving.config import GatewayConfig

        config = GatewayConfig.from_file(args.gateway_config)
    reg = open_registry(args)
    checks = gateway_checks(reg, prompts_dir=args.prompts, config=config)
    results = (reg.drill_all(actor=actor(args), checks=checks) if every
               else [reg.drill(args.name, args.env, actor=actor(args), checks=checks)])

    def text() -> str:
        lines = []
        for result in results:
            lines.append(result.summary())
            lines += [f"  {'ok ' if c.ok else 'BAD'} {c.name}: {c.detail}" for c in result.checks]
        return "\n".join(lines) or "no name holds production anywhere; nothing to drill"
    emit(args, [r.to_event_data() for r in results], text)
    failed = [r for r in results if not r.ok]
    if failed:  # the one line a refusal prints (the drills themselves are recorded)
        print(f"llmreg drill: {len(failed)} of {len(results)} drill(s) failed: "
              + " | ".join(" ".join(r.summary().split()) for r in failed), file=sys.stderr)
        return EXIT_REFUSED
    return EXIT_OK


class Drill:
    """Rehearse a rollback without moving anything: the target `llmreg rollback` would pick, its
    artifacts re-hashed (and not collected by gc), its refs pinned, its prompt template found
    (--prompts) and the gateway's backend loading its model and adapter config (no weights).
    Recorded as a rollback.drill event; exit 1 when a drill fails."""

    def arguments(self, p) -> None:
        p.add_argument("name", nargs="?", help="entry name; leave out with --all")
        p.add_argument("--env", default="default", help=ENV_HELP)
        p.add_argument("--all", action="store_true", help="every (name, env) with a production version")
        add_drill_options(p)

    def run(self, args) -> int:
        return run_drill(args)


class Gc:
    """Remove the artifact store's copies of versions outside the retention policy that hold no
    stage (a digest any kept version references stays), never an event; each name that lost
    something gets one audited artifacts.collected event. --dry-run shows what would go and why
    each kept version stays, and writes nothing."""

    def arguments(self, p) -> None:
        p.add_argument("name", nargs="?", help="one entry name; default: every name")
        p.add_argument("--dry-run", action="store_true", help="report only; remove and write nothing")

    def run(self, args) -> int:
        reg = open_registry(args)
        # A dry run writes nothing, so it needs no actor; a real one is audited under the actor.
        who = (args.actor or os.environ.get("LLMREG_ACTOR") or "dry-run") if args.dry_run else actor(args)
        report = reg.gc(args.name, actor=who, dry_run=args.dry_run)
        emit(args, report.to_dict(), report.summary)
        return EXIT_OK


class RetentionSet:
    """Replace the retention policy gc applies from a YAML/JSON file: {default: {keep_production_days,
    keep_last_production, keep_recent_days}, names: {NAME: {...}}} (a name may only keep more);
    audited as config.retention."""

    def arguments(self, p) -> None:
        p.add_argument("file")

    def run(self, args) -> int:
        event = open_registry(args).configure_retention(args.file, actor=actor(args))
        emit(args, event.to_dict(), f"retention policy set (event #{event.seq})")
        return EXIT_OK


class RetentionShow:
    """Print the retention policy in force (the defaults until one is set)."""

    def arguments(self, p) -> None:
        pass

    def run(self, args) -> int:
        policy = open_registry(args).retention()

        def text() -> str:
            lines = [f"default: {policy.default.describe()}"]
            lines += [f"{name}: {rule.describe()}" for name, rule in sorted(policy.names.items())]
            return "\n".join(lines)
        emit(args, policy.to_dict(), text)
        return EXIT_OK
