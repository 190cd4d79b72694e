"""`llmreg`: the registry on the command line, a thin face over registry.api.Registry.

Exit codes: 0 done, 1 refused (gate, role, approval, verification, conflict, not found),
2 bad input (arguments, files, fields), 3 internal error (a bug: please report it).
Errors are one line on stderr; with --json a JSON object also goes to stdout.

Each verb imports what it needs when it runs, so `llmreg resolve` does not pay for YAML,
SQLAlchemy or Alembic.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Callable

EXIT_OK, EXIT_REFUSED, EXIT_BAD_INPUT, EXIT_INTERNAL = 0, 1, 2, 3
ENV_HELP = "environment (deployment target such as default, eu, us); default: default"


class UsageError(Exception):
    """Bad command-line usage (mapped to exit 2, one line)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, no usage dump
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


# ---------------------------------------------------------------------- plumbing

def _open(args):
    """The verb's Registry; `main` closes every one a verb opened when the verb ends."""
    from llmreg.registry.api import Registry

    reg = Registry.open(args.store, artifacts=args.artifacts)
    if not hasattr(args, "_opened"):
        args._opened = []
    args._opened.append(reg)
    return reg


def _close_opened(args) -> None:
    opened, args._opened = getattr(args, "_opened", []), []
    for reg in reversed(opened):
        reg.close()


def _actor(args) -> str:
    from llmreg.registry.errors import BadInput

    actor = args.actor or os.environ.get("LLMREG_ACTOR")
    if not actor:
        raise BadInput("actor: who is acting? pass --actor NAME or set LLMREG_ACTOR (it is recorded on the event)",
                       field="actor")
    return actor


def _ref(text: str, *, version_required: bool = True) -> tuple[str, str | None]:
    from llmreg.registry.errors import BadInput

    name, sep, version = text.partition("@")
    if not name or (sep and not version) or (version_required and not sep):
        raise BadInput(f"ref: {text!r} is not NAME@VERSION; e.g. support-triage@1.2.0", field="ref")
    return name, version or None


def _read_document(path: str, what: str) -> Any:
    from llmreg.registry.entry import read_document
    from llmreg.registry.errors import BadInput

    data = read_document(path, what)
    if not isinstance(data, dict):
        raise BadInput(f"{path}: the {what} file must hold a mapping (key: value)", field="path")
    return data


def _emit(args, data: Any, text: str | Callable[[], str]) -> None:
    if args.json:
        print(json.dumps(data, indent=2, sort_keys=True, default=str))
    else:
        print(text() if callable(text) else text)


def _event_dict(event) -> dict:
    return event.to_dict()


# ---------------------------------------------------------------------- verbs

def cmd_register(args) -> int:
    reg = _open(args)
    entry = reg.register_file(args.file, actor=_actor(args), bump=args.bump, version=args.version,
                              import_history=args.import_history, env=args.env)
    _emit(args, {"ref": entry.ref, **entry.to_dict()},
          f"registered {entry.ref} ({entry.bump_reason})")
    return EXIT_OK


def cmd_list(args) -> int:
    from llmreg.registry.entry import bump_summary

    reg = _open(args)
    open_mode = not reg.roles_configured
    mode = ("roles: none configured (embedded mode: every actor may do everything; "
            "set them with `llmreg roles set roles.yaml`)" if open_mode else "roles: configured")
    if args.name:
        entries = reg.list_entries(args.name)
        rows = []
        for entry in entries:
            rows.append({"ref": entry.ref, "version": entry.version, "created_at": entry.created_at,
                         "author": entry.author, "bump": entry.bump, "bump_reason": entry.bump_reason,
                         "status": reg.status(entry.name).versions.get(entry.version, {})})

        def text() -> str:
            lines = [mode, f"{'VERSION':<10} {'CREATED (UTC)':<27} {'AUTHOR':<16} STATUS / CHANGE"]
            for row in rows:
                status = ", ".join(f"{env}:{s}" for env, s in row["status"].items()) or "development"
                lines.append(f"{row['version']:<10} {row['created_at']:<27} {row['author']:<16} {status}  "
                             f"({bump_summary(row['bump'], row['bump_reason'])})")
            return "\n".join(lines)
        _emit(args, {"roles_configured": not open_mode, "name": args.name, "versions": rows}, text)
        return EXIT_OK
    rows = []
    for entry in reg.list_entries():
        rows.append({"name": entry.name, "latest": entry.version, "versions": len(reg.versions(entry.name)),
                     "stages": reg.status(entry.name), "model": entry.spec.model.request_id})

    def text() -> str:
        lines = [mode]
        if not rows:
            lines.append("no entries yet; register one with `llmreg register entry.yaml`")
            return "\n".join(lines)
        lines.append(f"{'NAME':<28} {'LATEST':<10} {'#':>4}  STAGES")
        for row in rows:
            stages = "  ".join(f"{env}/{stage}={v}" for env, held in row["stages"].items() for stage, v in held.items())
            lines.append(f"{row['name']:<28} {row['latest']:<10} {row['versions']:>4}  {stages or '-'}")
        return "\n".join(lines)
    _emit(args, {"roles_configured": not open_mode, "entries": rows}, text)
    return EXIT_OK


def cmd_show(args) -> int:
    reg = _open(args)
    name, version = _ref(args.ref, version_required=False)
    entry = reg.get(name, version)
    data = {"ref": entry.ref, **entry.to_dict(), "status": reg.status(entry.name).versions.get(entry.version, {})}

    def text() -> str:
        import yaml

        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True).rstrip()
    _emit(args, data, text)
    return EXIT_OK


def _diff_side(text: str):
    """An entry file, or NAME@VERSION as it is."""
    import os

    from llmreg.registry.artifact_ingest import absolute_uris
    from llmreg.registry.entry import load_entry_file
    from llmreg.registry.errors import BadInput

    if os.path.isfile(text):
        # relative uris read as registration records them (absolute), so the diff shows what
        # registering that file would change
        return absolute_uris(load_entry_file(text)[0], os.path.dirname(os.path.abspath(text)))
    if "@" not in text:
        raise BadInput(f"ref: {text!r} is neither NAME@VERSION nor an entry file; e.g. support-triage@1.2.0",
                       field="ref")
    return text


def cmd_diff(args) -> int:
    reg = _open(args)
    diff = reg.diff(_diff_side(args.a), _diff_side(args.b))

    def text() -> str:
        if diff.identical:
            return f"{args.a} and {args.b} are identical"
        lines = [f"{c.level:<5}  {c.path}: {json.dumps(c.old)} -> {json.dumps(c.new)}" for c in diff.changes]
        lines.append(f"implies a {diff.bump} bump" if diff.bump else "no bump (first version)")
        return "\n".join(lines)
    _emit(args, diff.to_dict(), text)
    return EXIT_OK


def cmd_resolve(args) -> int:
    reg = _open(args)
    from llmreg.registry.resolve import env_and_stage

    env, stage = env_and_stage(args.env, args.stage)  # the seed's `--env production` names a stage
    resolved = reg.resolve(args.name, env, stage=stage, at=args.at, verify=args.verify)

    def text() -> str:
        spec = resolved.spec
        when = f" at {resolved.at}" if resolved.at else ""
        weight = f" weight {resolved.weight:g}" if resolved.weight is not None else ""
        lines = [f"{resolved.ref}  ({resolved.stage} in {resolved.env}{when}, since {resolved.since}, event #{resolved.seq}{weight})",
                 f"  model:      {resolved.model} ({spec.model.provider})"]
        for label, value in (("prompt_ref", spec.prompt_ref), ("tools_ref", spec.tools_ref),
                             ("policy_ref", spec.policy_ref)):
            if value:
                lines.append(f"  {label + ':':<11} {value}")
        if spec.params:
            lines.append(f"  params:     {json.dumps(dict(spec.params), sort_keys=True)}")
        for component, value in spec.retrieval.items():
            if isinstance(value, str):
                shown = value
            else:
                shown = " ".join(part for part in (value.get("ref"), f"sha256:{value['sha256'][:16]}..."
                                                   if value.get("sha256") else None) if part)
            lines.append(f"  retrieval:  {component} {shown}")
        for artifact in spec.artifacts:
            lines.append(f"  artifact:   {artifact.name} sha256:{artifact.sha256[:16]}... ({artifact.kind})")
        return "\n".join(lines)
    _emit(args, resolved.to_dict(), text)
    return EXIT_OK


def cmd_promote(args) -> int:
    reg = _open(args)
    name, version = _ref(args.ref)
    evidence = _read_document(args.evidence, "evidence") if args.evidence else None
    if args.to == "archived":
        event = reg.archive(name, version, args.env, actor=_actor(args), evidence=evidence)
    else:
        event = reg.promote(name, version, args.to, args.env, actor=_actor(args), evidence=evidence,
                            weight=args.weight)

    def text() -> str:
        lines = [f"promoted {name}@{version} to {args.to} in {args.env} (event #{event.seq})"]
        for gate in event.evidence.get("gates", []):
            lines.append(f"  passed {gate['gate']}: {gate['detail']}")
        return "\n".join(lines)
    _emit(args, _event_dict(event), text)
    return EXIT_OK


def cmd_approve(args) -> int:
    reg = _open(args)
    name, version = _ref(args.ref)
    verb_of = reg.withdraw_approval if args.withdraw else reg.approve
    event = verb_of(name, version, args.to, args.env, actor=_actor(args))
    verb = "withdrew approval of" if args.withdraw else "approved"
    _emit(args, _event_dict(event), f"{event.actor} {verb} {name}@{version} for {args.to} in {args.env} (event #{event.seq})")
    return EXIT_OK


def cmd_review(args) -> int:
    reg = _open(args)
    name, version = _ref(args.ref)
    decision = "reject" if args.reject else "comment" if args.comment else "approve"
    event = reg.review(name, version, args.env, actor=_actor(args), decision=decision, notes=args.notes or "")
    _emit(args, _event_dict(event), f"review of {name}@{version} in {args.env}: {decision} by {event.actor} (event #{event.seq})")
    return EXIT_OK


def cmd_evidence(args) -> int:
    reg = _open(args)
    name, version = _ref(args.ref)
    data = _read_document(args.file, "evidence")
    event = reg.record_evidence(name, version, args.env, args.kind, data, actor=_actor(args))
    _emit(args, _event_dict(event), f"recorded {args.kind} evidence for {name}@{version} in {args.env} (event #{event.seq})")
    return EXIT_OK


def cmd_rollback(args) -> int:
    reg = _open(args)
    evidence = _read_document(args.evidence, "evidence") if args.evidence else None
    if args.stage == "canary":
        from llmreg.registry.errors import BadInput

        if args.to is not None:
            raise BadInput("to: pulling a canary restores nothing; leave out --to", field="to")
        event = reg.pull_canary(args.name, args.env, actor=_actor(args), reason=args.reason or "", evidence=evidence)
    else:
        event = reg.rollback(args.name, args.env, actor=_actor(args), to=args.to, reason=args.reason or "",
                             evidence=evidence)
    if args.stage == "canary":
        text = f"pulled {args.name}@{event.version} from canary in {args.env} (event #{event.seq})"
    else:
        text = (f"rolled back {args.name} in {args.env}: production {event.payload['from']} -> {event.version} "
                f"(event #{event.seq})")
    _emit(args, _event_dict(event), text)
    return EXIT_OK


def cmd_archive(args) -> int:
    reg = _open(args)
    name, version = _ref(args.ref)
    event = reg.archive(name, version, args.env, actor=_actor(args))
    _emit(args, _event_dict(event), f"archived {name}@{version} in {args.env} (event #{event.seq})")
    return EXIT_OK


def cmd_verify(args) -> int:
    reg = _open(args)
    name, version = _ref(args.ref, version_required=False) if args.ref else (None, None)
    report = reg.verify(name, version)

    def text() -> str:
        lines = [f"{'ok ' if c.ok else 'BAD'} {ref} {c.name}: {c.detail if not c.ok else f'{c.actual} ({c.copy} copy)'}"
                 for ref, c in report.checks]
        artifacts = len({(ref, c.name) for ref, c in report.checks})
        copies = f" ({len(report.checks)} copies read)" if len(report.checks) != artifacts else ""
        lines.append(f"verified {artifacts} artifact(s): " + ("all match" if report.ok else
                                                              f"{len(report.failures())} mismatch(es)") + copies)
        return "\n".join(lines)
    _emit(args, report.to_dict(), text)
    if not report.ok:
        ref, first = report.failures()[0]
        print(f"llmreg verify: integrity check failed: {first.detail}", file=sys.stderr)
        return EXIT_REFUSED
    return EXIT_OK


def cmd_audit_log(args) -> int:
    from llmreg.registry.audit import describe

    reg = _open(args)
    types = tuple(args.type) if args.type else None
    events = reg.events(name=args.name, env=args.env, types=types, since=args.since, until=args.until,
                           limit=args.limit, newest_first=args.limit is not None)
    if args.limit is not None:
        events.reverse()
    _emit(args, [e.to_dict() for e in events], lambda: "\n".join(describe(e) for e in events) or "no events")
    return EXIT_OK


def cmd_audit_verify(args) -> int:
    reg = _open(args)
    report = reg.verify_audit()
    _emit(args, report.to_dict(), report.summary())
    if not report.ok:
        print(f"llmreg audit verify: integrity check failed: {report.summary()}", file=sys.stderr)
        return EXIT_REFUSED
    return EXIT_OK


def cmd_lineage(args) -> int:
    from llmreg.registry import lineage as lin

    reg = _open(args)
    name, version = _ref(args.ref)
    graph = reg.lineage(name, version)
    render = {"json": lin.to_json, "mermaid": lin.to_mermaid, "dot": lin.to_dot}[args.format]
    if args.json and args.format != "json":
        print(json.dumps({"format": args.format, "text": render(graph)}, indent=2))
    else:
        print(render(graph))
    return EXIT_OK


def cmd_card(args) -> int:
    reg = _open(args)
    name, version = _ref(args.ref)
    card = reg.card(name, version)
    _emit(args, {"ref": f"{name}@{version}", "markdown": card}, card)
    return EXIT_OK


def cmd_roles_set(args) -> int:
    reg = _open(args)
    event = reg.configure_roles(_read_document(args.file, "roles"), actor=_actor(args))
    _emit(args, _event_dict(event), f"roles configured from {args.file} (event #{event.seq})")
    return EXIT_OK


def cmd_roles_show(args) -> int:
    reg = _open(args)
    data = reg.roles().to_dict()

    def text() -> str:
        import yaml

        if data.get("open"):
            return "no roles configured (embedded mode: every actor may do everything)"
        return yaml.safe_dump(data, sort_keys=False).rstrip()
    _emit(args, data, text)
    return EXIT_OK


def cmd_gates_set(args) -> int:
    reg = _open(args)
    event = reg.configure_gates(_read_document(args.file, "gates"), actor=_actor(args))
    _emit(args, _event_dict(event), f"gates configured from {args.file} (event #{event.seq})")
    return EXIT_OK


def cmd_gates_show(args) -> int:
    reg = _open(args)
    data = reg.gates().to_dict()

    def text() -> str:
        import yaml

        shown = yaml.safe_dump(data, sort_keys=False).rstrip()
        if "fairness_max_gap" not in data:
            from llmreg.registry.gates_config import DEFAULT_FAIRNESS_MAX_GAP

            shown += (f"\n# fairness_max_gap not set: an entry's gates, else the eval suite's fairness.max_gap, "
                      f"else the built-in default {DEFAULT_FAIRNESS_MAX_GAP:g} applies")
        return shown
    _emit(args, data, text)
    return EXIT_OK


def cmd_suite_register(args) -> int:
    from llmreg.registry.errors import BadInput

    reg = _open(args)
    data = _read_document(args.file, "suite")
    for key in ("name", "version"):
        if key not in data:
            raise BadInput(f"{args.file}: {key}: missing; a suite file needs name, version and threshold", field=key)
    event = reg.register_suite(data["name"], str(data["version"]), data.get("threshold"), data, actor=_actor(args))
    what = f"(event #{event.seq})" if event else "(already registered, unchanged)"
    _emit(args, _event_dict(event) if event else {"unchanged": True},
          f"suite {data['name']}@{data['version']} threshold {data.get('threshold')} {what}")
    return EXIT_OK


def cmd_eval_record(args) -> int:
    reg = _open(args)
    name, version = _ref(args.ref)
    event = reg.record_eval(name, version, _read_document(args.file, "eval report"), actor=_actor(args))
    e = event.payload["eval"]
    _emit(args, _event_dict(event), f"recorded eval {e['suite']} score {e['score']:g} for {name}@{version} (event #{event.seq})")
    return EXIT_OK


# ---------------------------------------------------------------------- parser

def _common(parser: argparse.ArgumentParser, *, writes: bool) -> None:
    group = parser.add_argument_group("common options")
    group.add_argument("--store", default=None,
                       help="store URL (sqlite:///path.db or postgresql+psycopg://...); default: $LLMREG_STORE "
                            "or .llmreg/registry.db")
    group.add_argument("--artifacts", default=None,
                       help="artifact store (directory or fsspec URL); default: $LLMREG_ARTIFACTS or artifacts/ "
                            "beside the SQLite file")
    group.add_argument("--json", action="store_true", help="machine-readable JSON on stdout")
    if writes:
        group.add_argument("--actor", default=None, help="who is acting (recorded on the event); default: $LLMREG_ACTOR")
    else:
        group.add_argument("--actor", default=None, help=argparse.SUPPRESS)


def _verb(sub, name: str, func, summary: str, example: str, *, writes: bool = False):
    parser = sub.add_parser(name, help=summary, description=summary, epilog=f"example:\n  {example}",
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.set_defaults(func=func)
    _common(parser, writes=writes)
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="llmreg", description="llm-registry: version, gate, resolve and roll back LLM release tuples.",
                     epilog="exit codes: 0 done, 1 refused (gate, role, approval, verification, conflict), "
                            "2 bad input, 3 internal error")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=_Parser)
    sub.required = True

    p = _verb(sub, "register", cmd_register, "Register a new version of an entry from a YAML/JSON file; the version "
              "is bumped from the diff against the latest one.", "llmreg register support-triage.yaml --actor alice",
              writes=True)
    p.add_argument("file", help="entry file (.yaml, .yml or .json)")
    p.add_argument("--bump", choices=("major", "minor", "patch"), help="override the bump the diff implies (recorded)")
    p.add_argument("--version", help="explicit version X.Y.Z (above every existing one; recorded)")
    p.add_argument("--import-history", action="store_true",
                   help="accept version/status/approved_by from the file (an audited import; needs `configure`)")
    p.add_argument("--env", default="default", help="environment an imported status applies to; default: default")

    p = _verb(sub, "list", cmd_list, "List entries with their latest version and the stages they hold, or every "
              "version of NAME.", "llmreg list support-triage")
    p.add_argument("name", nargs="?", help="list every version of this entry")

    p = _verb(sub, "show", cmd_show, "Show one entry version (latest when no @VERSION) with its status per "
              "environment.", "llmreg show support-triage@1.2.0")
    p.add_argument("ref", help="NAME or NAME@VERSION")

    p = _verb(sub, "diff", cmd_diff, "Field-level diff between two versions (or entry files) and the bump it "
              "implies.", "llmreg diff support-triage@1.1.0 support-triage@1.2.0")
    p.add_argument("a", help="NAME@VERSION or an entry file")
    p.add_argument("b", help="NAME@VERSION or an entry file")

    p = _verb(sub, "resolve", cmd_resolve, "Print the tuple holding a stage of an environment now, or at a past "
              "time (--at).", "llmreg resolve support-triage --env eu --at 2026-06-10T14:02:00Z")
    p.add_argument("name")
    p.add_argument("--env", default="default", help=ENV_HELP + " (a stage name here means env default, that stage)")
    p.add_argument("--stage", default=None, choices=("staging", "canary", "production"), help="default: production")
    p.add_argument("--at", default=None, help="ISO-8601 time (UTC unless an offset is given): what held the stage then")
    p.add_argument("--verify", action="store_true", help="re-hash the version's artifacts before answering")

    p = _verb(sub, "promote", cmd_promote, "Promote a version to the next stage if every gate passes "
              "(staging: eval >= threshold; canary: review + fairness; production: canary SLO + two approvals).",
              "llmreg promote support-triage@1.2.0 --to canary --env default --weight 0.05", writes=True)
    p.add_argument("ref", help="NAME@VERSION")
    p.add_argument("--to", required=True, choices=("staging", "canary", "production", "archived"))
    p.add_argument("--env", default="default", help=ENV_HELP)
    p.add_argument("--evidence", help="YAML/JSON file attached to the promotion; with kind: canary_slo it is also "
                                      "recorded as gate evidence")
    p.add_argument("--weight", type=float, help="canary traffic share in (0, 1]; default 0.1")

    p = _verb(sub, "approve", cmd_approve, "Sign off a version for production (two distinct approvers, neither the "
              "author, are required).", "llmreg approve support-triage@1.2.0 --to production --env default --actor bob",
              writes=True)
    p.add_argument("ref", help="NAME@VERSION")
    p.add_argument("--to", required=True, help="the stage approved for (production)")
    p.add_argument("--env", default="default", help=ENV_HELP)
    p.add_argument("--withdraw", action="store_true", help="withdraw your earlier approval")

    p = _verb(sub, "review", cmd_review, "Record a human review of a version's eval results (needed for canary).",
              "llmreg review support-triage@1.2.0 --env default --notes 'segments look fine' --actor carol", writes=True)
    p.add_argument("ref", help="NAME@VERSION")
    p.add_argument("--env", default="default", help=ENV_HELP)
    decision = p.add_mutually_exclusive_group()
    decision.add_argument("--reject", action="store_true", help="reject (blocks canary until you approve)")
    decision.add_argument("--comment", action="store_true", help="a comment only, no decision")
    p.add_argument("--notes", default="", help="what you checked")

    p = _verb(sub, "evidence", cmd_evidence, "Record gate evidence from a YAML/JSON file, e.g. canary SLO "
              "measurements {error_rate, p99_ms, calls}.",
              "llmreg evidence support-triage@1.2.0 --env default --kind canary_slo slo.yaml --actor system:slo-guard",
              writes=True)
    p.add_argument("ref", help="NAME@VERSION")
    p.add_argument("file", help="evidence data file")
    p.add_argument("--env", default="default", help=ENV_HELP)
    p.add_argument("--kind", required=True, help="evidence kind: canary_slo, archive_checklist, ...")

    p = _verb(sub, "rollback", cmd_rollback, "Put an earlier production version back in production (default: the "
              "newest one older than the current).", "llmreg rollback support-triage --env default --to 1.1.0",
              writes=True)
    p.add_argument("name")
    p.add_argument("--env", default="default", help=ENV_HELP)
    p.add_argument("--to", help="the former production version to restore")
    p.add_argument("--reason", default="", help="why (recorded on the event)")
    p.add_argument("--stage", default="production", choices=("production", "canary"),
                   help="canary: pull the canary (its version goes back to development); default: production")
    p.add_argument("--evidence", help="YAML/JSON file kept on the event (e.g. the SLO figures behind it)")

    p = _verb(sub, "archive", cmd_archive, "Archive a version in an environment (never the production holder).",
              "llmreg archive support-triage@1.0.0 --env default", writes=True)
    p.add_argument("ref", help="NAME@VERSION")
    p.add_argument("--env", default="default", help=ENV_HELP)

    p = _verb(sub, "verify", cmd_verify, "Re-hash artifacts (all, one name, or one version) against their "
              "recorded SHA-256.", "llmreg verify support-triage@1.2.0")
    p.add_argument("ref", nargs="?", help="NAME or NAME@VERSION; default: everything")

    audit = sub.add_parser("audit", help="The audit log: show it or verify its hash chain.",
                           description="The audit log: show it or verify its hash chain.",
                           epilog="example:\n  llmreg audit verify", formatter_class=argparse.RawDescriptionHelpFormatter)
    audit_sub = audit.add_subparsers(dest="audit_verb", metavar="ACTION", parser_class=_Parser)
    audit_sub.required = True
    p = _verb(audit_sub, "log", cmd_audit_log, "Show events, oldest first.",
              "llmreg audit log --name support-triage --type stage.promoted --limit 20")
    p.add_argument("--name")
    p.add_argument("--env")
    p.add_argument("--type", action="append", help="event type (repeatable), e.g. stage.promoted")
    p.add_argument("--since", help="ISO-8601 time")
    p.add_argument("--until", help="ISO-8601 time")
    p.add_argument("--limit", type=int, help="only the newest N events")
    _verb(audit_sub, "verify", cmd_audit_verify, "Walk the hash chain; exit 1 if any event was changed, removed or "
          "reordered.", "llmreg audit verify --json")

    p = _verb(sub, "lineage", cmd_lineage, "Export a version's lineage (datasets -> training -> artifacts -> eval -> "
              "entry -> promotions).", "llmreg lineage support-triage@1.2.0 --format mermaid")
    p.add_argument("ref", help="NAME@VERSION")
    p.add_argument("--format", choices=("json", "mermaid", "dot"), default="json")

    p = _verb(sub, "card", cmd_card, "Print a version's model card (Markdown, Hugging Face front matter).",
              "llmreg card support-triage@1.2.0 > MODEL_CARD.md")
    p.add_argument("ref", help="NAME@VERSION")

    roles = sub.add_parser("roles", help="Who may do what (roles.yaml).", description="Who may do what (roles.yaml).",
                           epilog="example:\n  llmreg roles set roles.yaml --actor admin",
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    roles_sub = roles.add_subparsers(dest="roles_verb", metavar="ACTION", parser_class=_Parser)
    roles_sub.required = True
    p = _verb(roles_sub, "set", cmd_roles_set, "Replace the roles from a YAML file {roles: {role: [actions]}, members: "
              "{actor: [roles]}} (audited).", "llmreg roles set roles.yaml --actor admin", writes=True)
    p.add_argument("file")
    _verb(roles_sub, "show", cmd_roles_show, "Show the roles in force.", "llmreg roles show")

    gates = sub.add_parser("gates", help="Gate thresholds (gates.yaml).", description="Gate thresholds (gates.yaml).",
                           epilog="example:\n  llmreg gates set gates.yaml --actor admin",
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    gates_sub = gates.add_subparsers(dest="gates_verb", metavar="ACTION", parser_class=_Parser)
    gates_sub.required = True
    p = _verb(gates_sub, "set", cmd_gates_set, "Replace the gates config from a YAML file (eval_threshold, "
              "fairness_max_gap, canary_slo, ...; audited).", "llmreg gates set gates.yaml --actor admin", writes=True)
    p.add_argument("file")
    _verb(gates_sub, "show", cmd_gates_show, "Show the gates config in force.", "llmreg gates show")

    suite = sub.add_parser("suite", help="Eval suites known to the registry (their threshold drives the staging gate).",
                           description="Eval suites known to the registry.",
                           epilog="example:\n  llmreg suite register evals/suites/triage.yaml --actor admin",
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    suite_sub = suite.add_subparsers(dest="suite_verb", metavar="ACTION", parser_class=_Parser)
    suite_sub.required = True
    p = _verb(suite_sub, "register", cmd_suite_register, "Register a suite version from YAML {name, version, "
              "threshold, ...}.", "llmreg suite register triage-eval.yaml --actor admin", writes=True)
    p.add_argument("file")

    evals = sub.add_parser("eval", help="Eval results recorded against a version.",
                           description="Eval results recorded against a version.",
                           epilog="example:\n  llmreg eval record support-triage@1.2.0 metrics/eval.json --actor ci",
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    evals_sub = evals.add_subparsers(dest="eval_verb", metavar="ACTION", parser_class=_Parser)
    evals_sub.required = True
    p = _verb(evals_sub, "record", cmd_eval_record, "Record an eval report {suite, score, segments, run, ...}.",
              "llmreg eval record support-triage@1.2.0 report.json --actor ci", writes=True)
    p.add_argument("ref", help="NAME@VERSION")
    p.add_argument("file")

    # Verbs beyond the registry live in their own modules; each imports its heavy parts lazily.
    from llmreg import deploy_verbs, pipeline_verbs, provider_verbs, serving_verbs

    for module in (pipeline_verbs, provider_verbs, deploy_verbs, serving_verbs):
        module.add_verbs(sub, _verb)
    return parser


_LABELS = (("GateFailed", "gate failed"), ("Forbidden", "forbidden"), ("Conflict", "conflict"),
           ("IntegrityError", "integrity check failed"), ("NotFound", "not found"), ("BadInput", "bad input"),
           ("Refused", "refused"))


def _label(exc: BaseException) -> str:
    names = {cls.__name__ for cls in type(exc).__mro__}
    return next((label for name, label in _LABELS if name in names), "error")


def _fail(args, prog: str, exc: BaseException, code: int) -> int:
    message = " ".join(str(exc).split())
    print(f"{prog}: {_label(exc)}: {message}", file=sys.stderr)
    if args is not None and getattr(args, "json", False):
        payload: dict[str, Any] = {"ok": False, "error": message, "kind": type(exc).__name__, "exit": code}
        if getattr(exc, "field", None):
            payload["field"] = exc.field
        results = getattr(exc, "results", None)
        if results:
            payload["gates"] = [r.to_dict() for r in results]
        print(json.dumps(payload, indent=2, sort_keys=True, default=str))
    return code


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_BAD_INPUT
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    verb = " ".join(v for v in (args.verb, getattr(args, "audit_verb", None), getattr(args, "roles_verb", None),
                                getattr(args, "gates_verb", None), getattr(args, "suite_verb", None),
                                getattr(args, "eval_verb", None),
                                getattr(args, "providers_verb", None)) if v)
    prog = f"llmreg {verb}"
    try:
        try:
            return args.func(args)
        finally:
            _close_opened(args)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - the one place errors become exit codes
        from llmreg.registry.errors import RegistryError

        if isinstance(exc, RegistryError):
            return _fail(args, prog, exc, exc.exit_code)
        if os.environ.get("LLMREG_DEBUG"):
            raise
        return _fail(args, prog, RuntimeError(f"internal error: {type(exc).__name__}: {exc} "
                                              "(set LLMREG_DEBUG=1 for the traceback)"), EXIT_INTERNAL)


if __name__ == "__main__":
    sys.exit(main())
