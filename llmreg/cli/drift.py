"""Drift verbs: the per-name drift rules (`drift set|show`) and a check of every production
version (`drift check`), the one `drift_schedule` runs.

    llmreg drift set drift.yaml --actor admin
    llmreg drift check --actor system:drift-monitor [--providers providers.yaml] [--json]

A check that flags a version records a signed version.flagged event and exits 1 (one line on
stderr), so a cron job or CI step fails with it; nothing is rolled back unless the name's rule
says `action: rollback`.
"""
from __future__ import annotations

import os
import sys

from llmreg.cli.context import EXIT_OK, EXIT_REFUSED, emit, open_registry

DRIFT_ACTOR = "system:drift-monitor"


class DriftCheck:
    """Judge every production version against what certified it: its suite re-run (providers.yaml
    providers, the re-evaluation machinery) and the gateway's calls over the rule's window (error
    rate, p99); record a version.flagged event per flag; exit 1 when one is flagged."""

    def arguments(self, p) -> None:
        p.add_argument("name", nargs="?", help="one entry name; default: every name holding production")
        p.add_argument("--providers", default=None, metavar="FILE",
                       help="providers.yaml: re-run the pinned suite of versions its providers serve")
        p.add_argument("--root", default=".", help="project root the suites' paths are relative to")

    def run(self, args) -> int:
        from llmreg.drift_checks import observer

        providers = None
        if args.providers:
            from evals.providers.config import load_providers

            providers = load_providers(args.providers)
        reg = open_registry(args)
        who = args.actor or os.environ.get("LLMREG_ACTOR") or DRIFT_ACTOR
        report = reg.drift_check(observer(reg, providers=providers, root=args.root), actor=who, name=args.name)
        emit(args, report.to_dict(), report.summary)
        if report.flagged:
            print(f"llmreg drift check: {len(report.flagged)} of {len(report.findings)} production version(s) "
                  "flagged: " + " | ".join(" ".join(f.summary().split()) for f in report.flagged), file=sys.stderr)
            return EXIT_REFUSED
        return EXIT_OK


class DriftSet:
    """Replace the drift rules from a YAML/JSON file: {default: RULE, names: {NAME: RULE}}, each RULE
    {score_tolerance, max_error_rate, max_p99_ms, window_minutes, min_calls, action: flag|rollback};
    unset bounds fall back to the suite's tolerance and the canary SLO. Audited as config.drift."""

    def arguments(self, p) -> None:
        p.add_argument("file")

    def run(self, args) -> int:
        from llmreg.cli.context import actor

        event = open_registry(args).configure_drift_policy(args.file, actor=actor(args))
        emit(args, event.to_dict(), f"drift policy set from {args.file} (event #{event.seq})")
        return EXIT_OK


class DriftShow:
    """Print the drift rules in force (the defaults until some are set)."""

    def arguments(self, p) -> None:
        pass

    def run(self, args) -> int:
        from llmreg.registry.handlers.policy import drift_to_dict

        data = drift_to_dict(open_registry(args).drift_policy())

        def text() -> str:
            import yaml

            return yaml.safe_dump(data, sort_keys=False).rstrip()
        emit(args, data, text)
        return EXIT_OK
