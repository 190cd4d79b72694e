"""`llmreg`: the registry on the command line, a thin face over llmreg.registry.api.Registry.

The verbs are a table (pip's pattern): each names the module and class that implement it,
imported with importlib only when that verb runs, and only the chosen verb's parser is
built, so `llmreg resolve` loads the registry's read path and nothing else. Verb modules
share `llmreg.cli.context` (options, output, exit codes) and never import this module.

Exit codes: 0 done, 1 refused (gate, role, approval, verification, conflict, not found),
2 bad input (arguments, files, fields), 3 internal error (a bug: please report it).
Errors are one line on stderr; with --json a JSON object also goes to stdout.
"""
from __future__ import annotations

import sys


class Verb:
    """One row of the command table (a plain class: typing.NamedTuple would cost start-up time)."""

    __slots__ = ("module", "attr", "summary", "example", "writes", "existing_store")

    def __init__(self, module: str, attr: str, summary: str, example: str, *, writes: bool = False,
                 existing_store: bool = False):
        self.module = module  # where the verb lives, imported only when it runs
        self.attr = attr  # a class with arguments(parser) and run(args) -> int; "add_verbs": the older shape
        self.summary = summary  # one line for `llmreg --help`
        self.example = example
        self.writes = writes  # takes --actor
        self.existing_store = existing_store  # reads only: refuse a store that does not exist, never create it


# Order is the order `llmreg --help` lists them in: the lifecycle first, then inspection.
VERBS: dict[str, Verb] = {
    "register": Verb("llmreg.cli.entries", "Register", "Register a new version from an entry file (version bumped "
                     "from the diff).", "llmreg register support-triage.yaml --actor alice", writes=True),
    "list": Verb("llmreg.cli.entries", "List", "List entries and the stages they hold, or every version of NAME.",
                 "llmreg list support-triage", existing_store=True),
    "show": Verb("llmreg.cli.entries", "Show", "Show one version and its status per environment.",
                 "llmreg show support-triage@1.2.0", existing_store=True),
    "diff": Verb("llmreg.cli.entries", "Diff", "Field-level diff of two versions or entry files, and the bump.",
                 "llmreg diff support-triage@1.1.0 support-triage@1.2.0"),
    "resolve": Verb("llmreg.cli.resolve", "Resolve", "The tuple holding a stage of an environment, now or --at a time.",
                    "llmreg resolve support-triage --env eu --at 2026-06-10T14:02:00Z", existing_store=True),
    "promote": Verb("llmreg.cli.stages", "Promote", "Promote a version to the next stage if every gate passes.",
                    "llmreg promote support-triage@1.2.0 --to canary --weight 0.05 --actor bob", writes=True),
    "approve": Verb("llmreg.cli.approvals", "Approve", "Sign off a version for production (two approvers, not the "
                    "author).", "llmreg approve support-triage@1.2.0 --to production --actor bob", writes=True),
    "review": Verb("llmreg.cli.approvals", "Review", "Record a human review of a version's eval results.",
                   "llmreg review support-triage@1.2.0 --notes 'segments look fine' --actor carol", writes=True),
    "evidence": Verb("llmreg.cli.evidence", "Evidence", "Record gate evidence (e.g. canary SLO figures) from a file.",
                     "llmreg evidence support-triage@1.2.0 slo.yaml --kind canary_slo --actor system:slo-guard",
                     writes=True),
    "rollback": Verb("llmreg.cli.stages", "Rollback", "Put an earlier production version back, or pull a canary.",
                     "llmreg rollback support-triage --env default --to 1.1.0 --actor oncall", writes=True),
    "archive": Verb("llmreg.cli.stages", "Archive", "Archive a version in an environment.",
                    "llmreg archive support-triage@1.0.0 --env default --actor bob", writes=True),
    "verify": Verb("llmreg.cli.artifacts", "Verify", "Re-hash artifacts against their recorded SHA-256.",
                   "llmreg verify support-triage@1.2.0", existing_store=True),
    "drill": Verb("llmreg.cli.ops", "Drill", "Rehearse a rollback (artifacts, refs, backend dry-run load); "
                  "recorded, nothing moves.", "llmreg drill support-triage --env default --actor ops", writes=True),
    "gc": Verb("llmreg.cli.ops", "Gc", "Remove stored artifact copies outside the retention policy (never an "
               "event).", "llmreg gc --dry-run", writes=True),
    "retention set": Verb("llmreg.cli.ops", "RetentionSet", "Replace the retention policy gc applies (audited).",
                          "llmreg retention set retention.yaml --actor admin", writes=True),
    "retention show": Verb("llmreg.cli.ops", "RetentionShow", "Show the retention policy in force.",
                           "llmreg retention show", existing_store=True),
    "policy set": Verb("llmreg.cli.policy", "PolicySet", "Replace the production approval policy, per name "
                       "(audited).", "llmreg policy set policy.yaml --actor admin", writes=True),
    "policy show": Verb("llmreg.cli.policy", "PolicyShow", "Show the approval policy in force (for NAME: its rule).",
                        "llmreg policy show support-triage --json", existing_store=True),
    "drift check": Verb("llmreg.cli.drift", "DriftCheck", "Judge every production version for drift; flag it "
                        "(version.flagged).", "llmreg drift check --actor system:drift-monitor --json", writes=True),
    "drift set": Verb("llmreg.cli.drift", "DriftSet", "Replace the per-name drift rules (audited).",
                      "llmreg drift set drift.yaml --actor admin", writes=True),
    "drift show": Verb("llmreg.cli.drift", "DriftShow", "Show the drift rules in force.", "llmreg drift show",
                       existing_store=True),
    "webhooks add": Verb("llmreg.cli.webhooks", "WebhooksAdd", "Subscribe a URL to registry events (signed POSTs; "
                         "audited).", "llmreg webhooks add https://hooks.example.com/llmreg --events "
                         "stage.promoted,stage.rolled_back,gate.failed --secret-env HOOK_SECRET --actor admin",
                         writes=True),
    "webhooks list": Verb("llmreg.cli.webhooks", "WebhooksList", "List webhook subscriptions and their deliveries.",
                          "llmreg webhooks list --json", existing_store=True),
    "webhooks remove": Verb("llmreg.cli.webhooks", "WebhooksRemove", "Unsubscribe (audited).",
                            "llmreg webhooks remove wh-12 --actor admin", writes=True),
    "webhooks deliver": Verb("llmreg.cli.webhooks", "WebhooksDeliver", "Send queued webhook deliveries (HMAC-signed, "
                             "retried with backoff).", "llmreg webhooks deliver --loop", existing_store=True),
    "webhooks deliveries": Verb("llmreg.cli.webhooks", "WebhooksDeliveries", "The webhook delivery log: every "
                                "attempt and its outcome.", "llmreg webhooks deliveries --json", existing_store=True),
    "audit log": Verb("llmreg.cli.audit", "AuditLog", "Show the audit log's events, oldest first.",
                      "llmreg audit log --name support-triage --type stage.promoted --limit 20", existing_store=True),
    "audit verify": Verb("llmreg.audit_verbs", "AuditVerify", "Check the chain, signatures, signers, the log's rules "
                         "and the projection; exit 1 naming the first failing event.",
                         "llmreg audit verify --checkpoint cp.json", existing_store=True),
    "audit checkpoint": Verb("llmreg.audit_verbs", "AuditCheckpoint", "Write a signed checkpoint of a log that verifies.",
                             "llmreg audit checkpoint --out cp.json --actor admin", existing_store=True),
    "audit export": Verb("llmreg.audit_verbs", "AuditExport", "Write the log as JSON Lines for the offline verifier.",
                         "llmreg audit export registry-audit.jsonl", existing_store=True),
    "db grant": Verb("llmreg.audit_verbs", "DbGrant", "Create the PostgreSQL app (read + append) and reader roles.",
                     "llmreg db grant --store postgresql+psycopg://owner@db/registry"),
    "lineage": Verb("llmreg.cli.lineage", "Lineage", "Export a version's lineage (JSON, Mermaid, Graphviz DOT).",
                    "llmreg lineage support-triage@1.2.0 --format mermaid", existing_store=True),
    "card": Verb("llmreg.cli.lineage", "Card", "Print a version's model card (Markdown).",
                 "llmreg card support-triage@1.2.0 > MODEL_CARD.md", existing_store=True),
    "roles set": Verb("llmreg.cli.policy", "RolesSet", "Replace who may do what from roles.yaml (audited).",
                      "llmreg roles set roles.yaml --actor admin", writes=True),
    "roles show": Verb("llmreg.cli.policy", "RolesShow", "Show the roles in force.", "llmreg roles show",
                       existing_store=True),
    "gates set": Verb("llmreg.cli.policy", "GatesSet", "Replace the gate thresholds from gates.yaml (audited).",
                      "llmreg gates set gates.yaml --actor admin", writes=True),
    "gates show": Verb("llmreg.cli.policy", "GatesShow", "Show the gate thresholds in force.", "llmreg gates show",
                       existing_store=True),
    "suite register": Verb("llmreg.cli.evidence", "SuiteRegister", "Register an eval suite version and its "
                           "threshold.", "llmreg suite register triage-eval.yaml --actor admin", writes=True),
    "eval record": Verb("llmreg.cli.evidence", "EvalRecord", "Record an eval report against a version.",
                        "llmreg eval record support-triage@1.2.0 report.json --actor ci", writes=True),
    "providers": Verb("llmreg.cli.providers", "Providers", "The provider snapshot change log.",
                      "llmreg providers --provider openai --json", existing_store=True),
    "providers discover": Verb("llmreg.cli.providers", "Discover", "Record new, delisted and deprecated provider "
                               "snapshots.", "llmreg providers discover --config providers.yaml --actor ci",
                               writes=True),
    "providers qualify": Verb("llmreg.cli.providers", "Qualify", "Run a family's pinned suite against one snapshot.",
                              "llmreg providers qualify local-vllm/triage-2026-06-01 --actor ci", writes=True),
    "providers reevaluate": Verb("llmreg.cli.providers", "Reevaluate", "Re-run the pinned suites against every "
                                 "followed snapshot.", "llmreg providers reevaluate --actor ci", writes=True),
    "vllm-command": Verb("llmreg.cli.deploy", "VllmCommand", "Print the `vllm serve` command for a resolved version.",
                         "llmreg vllm-command triage-open-weights --env default --stage canary", existing_store=True),
    "serve": Verb("llmreg.serving_verbs", "add_verbs", "Run the OpenAI-compatible gateway.",
                  "llmreg serve --host 127.0.0.1 --port 8080"),
    "metrics": Verb("llmreg.serving_verbs", "add_verbs", "Per-version call summary from the gateway's log.",
                    "llmreg metrics support-triage --env default"),
    "api-key create": Verb("llmreg.serving_verbs", "add_verbs", "Create a gateway API key (shown once, stored hashed).",
                           "llmreg api-key create checkout-service --entries support-triage --actor alice",
                           writes=True),
    "api-key revoke": Verb("llmreg.serving_verbs", "add_verbs", "Revoke a gateway API key (audited).",
                           "llmreg api-key revoke 3f9a1c2b7d10 --reason rotated --actor bob", writes=True),
    "api-key list": Verb("llmreg.serving_verbs", "add_verbs", "List the gateway's API keys and their scopes.",
                         "llmreg api-key list --json", existing_store=True),
    "keys new": Verb("llmreg.keys_verbs", "add_verbs", "Create your signing key (ed25519, OpenSSH format, 0600).",
                     "llmreg keys new --out ~/.config/llmreg/signing_key"),
    "keys show": Verb("llmreg.keys_verbs", "add_verbs", "Print your public key line and fingerprint for roles.yaml.",
                      "llmreg keys show --json"),
    "reproduce": Verb("llmreg.pipeline_verbs", "add_verbs", "Rebuild a version from its lineage and compare checksums.",
                      "llmreg reproduce support-triage@1.0.0"),
}
GROUPS = {"audit": "The audit log: show it or verify its hash chain.",
          "roles": "Who may do what (roles.yaml).",
          "gates": "Gate thresholds (gates.yaml).",
          "suite": "Eval suites known to the registry (their threshold drives the staging gate).",
          "eval": "Eval results recorded against a version.",
          "providers": "Provider model snapshots: the change log and its actions.",
          "keys": "Create and show your signing key (ed25519, OpenSSH format).",
          "api-key": "The gateway's API keys: who may call which entries and stages.",
          "db": "PostgreSQL roles for the store (run as the owning role).",
          "retention": "Which versions' stored artifact copies gc keeps (retention.yaml).",
          "policy": "Who must approve a production promotion, per name (policy.yaml).",
          "drift": "Drift after release: the per-name rules and the check that flags versions.",
          "webhooks": "Notifications: signed HTTP POSTs of registry events, from an outbox written with each event."}
DESCRIPTION = "llm-registry: version, gate, resolve and roll back LLM release tuples."
EXIT_CODES = "exit codes: 0 done, 1 refused (gate, role, approval, verification, conflict), 2 bad input, 3 internal error"


def _overview(prefix: str = "") -> str:
    """`llmreg --help` (or `llmreg GROUP --help`): each verb in one line and an example."""
    chosen = [(name, verb) for name, verb in VERBS.items() if name.startswith(prefix)]
    width = max(len(name) for name, _ in chosen) + 2
    head = (f"usage: llmreg {prefix}ACTION [options]   (llmreg {prefix}ACTION --help for its options)\n\n"
            f"{GROUPS[prefix.strip()]}" if prefix else
            f"usage: llmreg VERB [options]   (llmreg VERB --help for its options)\n\n{DESCRIPTION}")
    lines = [head, "", "verbs:" if not prefix else "actions:"]
    for name, verb in chosen:
        lines.append(f"  {name:<{width}}{verb.summary}")
        lines.append(f"  {'':<{width}}  $ {verb.example}")
    lines += ["", "common options: --store URL  --artifacts DIR  --json  --actor NAME (writes)", EXIT_CODES]
    if not prefix:
        lines.append("llmreg --version prints the installed version")
    return "\n".join(lines)


def _choose(argv: list[str]) -> tuple[str | None, list[str]]:
    """(table key, the arguments after it); (None, argv) when argv names no verb."""
    if not argv:
        return None, argv
    first = argv[0]
    if len(argv) > 1 and f"{first} {argv[1]}" in VERBS:
        return f"{first} {argv[1]}", argv[2:]
    if first in VERBS:
        return first, argv[1:]
    return None, argv


class _OlderVerbs:
    """A module in the older `add_verbs(sub, verb)` shape, reduced to the one verb chosen: every
    other parser it adds (its other verbs, a group such as `keys`) is built into a throwaway."""

    def __init__(self, module, key: str):
        self.module, self.name = module, key.split()[-1]  # "keys new": the module names it "new"

    def arguments(self, parser) -> None:
        import argparse

        def verb(sub, name, func, summary, example, *, writes=False):
            if name != self.name:
                return argparse.ArgumentParser(add_help=False)
            parser.set_defaults(func=func)
            return parser

        throwaway = argparse.ArgumentParser(add_help=False).add_subparsers()
        self.module.add_verbs(throwaway, verb)

    def run(self, args) -> int:
        return args.func(args)


def _load(key: str, verb: Verb):
    from importlib import import_module

    module = import_module(verb.module)
    if verb.attr == "add_verbs":
        return _OlderVerbs(module, key)
    return getattr(module, verb.attr)()


def _texts(verb: Verb, impl) -> dict:
    import argparse

    description = verb.summary if isinstance(impl, _OlderVerbs) else " ".join((impl.__doc__ or verb.summary).split())
    return {"description": description, "epilog": f"example:\n  {verb.example}",
            "formatter_class": argparse.RawDescriptionHelpFormatter}


def _configure(parser, verb: Verb, impl):
    from llmreg.cli.context import add_common

    impl.arguments(parser)
    add_common(parser, writes=verb.writes)
    parser.set_defaults(existing_store=verb.existing_store, run=impl.run)
    return parser


def verb_parser(key: str):
    """The parser of one verb (its own options and the common ones) and the verb object."""
    from llmreg.cli.context import Parser

    verb = VERBS[key]
    impl = _load(key, verb)
    parser = Parser(prog=f"llmreg {key}", **_texts(verb, impl))
    return _configure(parser, verb, impl), impl


def build_parser():
    """The whole tree, every verb a subcommand (for tests and docs; `main` builds one verb's)."""
    from llmreg.cli.context import Parser

    root = Parser(prog="llmreg", description=DESCRIPTION, epilog=EXIT_CODES)
    sub = root.add_subparsers(dest="verb", metavar="VERB", parser_class=Parser)
    sub.required = True
    parsers: dict = {}
    groups: dict = {}
    for key, verb in VERBS.items():
        head, _, action = key.partition(" ")
        impl = _load(key, verb)
        if not action:
            parsers[head] = _configure(sub.add_parser(head, help=verb.summary, **_texts(verb, impl)), verb, impl)
            continue
        if head not in groups:
            group = parsers.get(head) or sub.add_parser(head, help=GROUPS[head], description=GROUPS[head])
            groups[head] = group.add_subparsers(dest=f"{head}_verb", metavar="ACTION", parser_class=Parser)
            groups[head].required = head not in parsers  # `providers` alone lists; `audit` alone is incomplete
        _configure(groups[head].add_parser(action, help=verb.summary, **_texts(verb, impl)), verb, impl)
    return root


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("llm-registry")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "(not installed)"


def _print(text: str) -> int:
    try:
        print(text)
    except BrokenPipeError:  # `llmreg --help | head`
        pass
    return 0


def _unknown(argv: list[str]) -> str:
    """One line for argv that names no verb."""
    from difflib import get_close_matches

    if not argv:
        return "llmreg: choose a verb (see llmreg --help)"
    heads = sorted({key.split()[0] for key in VERBS})
    word = argv[0]
    if word in GROUPS:
        actions = [key.split()[1] for key in VERBS if key.startswith(word + " ")]
        given = f"invalid choice: {argv[1]!r}; " if len(argv) > 1 else ""
        return f"llmreg {word}: {given}choose an action: {', '.join(actions)} (see llmreg {word} --help)"
    close = get_close_matches(word, heads, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"llmreg: invalid choice: {word!r}{hint} (see llmreg --help)"


def main(argv: list[str] | None = None) -> int:
    from llmreg.cli.context import EXIT_BAD_INPUT, UsageError, needs_checkout, one_line, run_verb

    argv = sys.argv[1:] if argv is None else list(argv)
    key, rest = _choose(argv)
    if key is None:
        if argv and argv[0] in ("-h", "--help"):
            return _print(_overview())
        if argv == ["--version"]:
            return _print(f"llm-registry {_version()}")
        if len(argv) > 1 and argv[0] in GROUPS and argv[1] in ("-h", "--help"):
            return _print(_overview(argv[0] + " "))
        print(one_line(_unknown(argv)), file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        parser, impl = verb_parser(key)
    except ModuleNotFoundError as exc:
        if not needs_checkout(exc):
            raise
        print(f"llmreg {key}: {needs_checkout(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        args = parser.parse_args(rest)
    except UsageError as exc:
        print(one_line(str(exc)), file=sys.stderr)
        return EXIT_BAD_INPUT
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    except BrokenPipeError:  # --help | head
        return 0
    return run_verb(f"llmreg {key}", args, impl.run)


if __name__ == "__main__":
    sys.exit(main())
