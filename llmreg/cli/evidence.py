"""Verbs that record what gates read: `evidence` (e.g. canary SLO), `eval record`, `suite register`."""
from __future__ import annotations

from llmreg.cli.context import ENV_HELP, EXIT_OK, actor, emit, open_registry, parse_ref, read_mapping


class Evidence:
    """Record gate evidence from a YAML/JSON file, e.g. canary SLO measurements {error_rate, p99_ms, calls}."""

    def arguments(self, p) -> None:
        p.add_argument("ref", help="NAME@VERSION")
        p.add_argument("file", help="evidence data file")
        p.add_argument("--env", default="default", help=ENV_HELP)
        p.add_argument("--kind", required=True, help="evidence kind: canary_slo, archive_checklist, ...")

    def run(self, args) -> int:
        reg = open_registry(args)
        name, version = parse_ref(args.ref)
        data = read_mapping(args.file, "evidence")
        event = reg.record_evidence(name, version, args.env, args.kind, data, actor=actor(args))
        emit(args, event.to_dict(),
             f"recorded {args.kind} evidence for {name}@{version} in {args.env} (event #{event.seq})")
        return EXIT_OK


class EvalRecord:
    """Record an eval report {suite, score, segments, run, ...} against a version."""

    def arguments(self, p) -> None:
        p.add_argument("ref", help="NAME@VERSION")
        p.add_argument("file")

    def run(self, args) -> int:
        reg = open_registry(args)
        name, version = parse_ref(args.ref)
        event = reg.record_eval(name, version, read_mapping(args.file, "eval report"), actor=actor(args))
        e = event.payload["eval"]
        emit(args, event.to_dict(),
             f"recorded eval {e['suite']} score {e['score']:g} for {name}@{version} (event #{event.seq})")
        return EXIT_OK


class SuiteRegister:
    """Register an eval suite version from YAML {name, version, threshold, ...}; its threshold
    drives the staging gate."""

    def arguments(self, p) -> None:
        p.add_argument("file")

    def run(self, args) -> int:
        from llmreg.registry.errors import BadInput

        reg = open_registry(args)
        data = read_mapping(args.file, "suite")
        for key in ("name", "version"):
            if key not in data:
                raise BadInput(f"{args.file}: {key}: missing; a suite file needs name, version and threshold",
                               field=key)
        event = reg.register_suite(data["name"], str(data["version"]), data.get("threshold"), data,
                                   actor=actor(args))
        what = f"(event #{event.seq})" if event else "(already registered, unchanged)"
        emit(args, event.to_dict() if event else {"unchanged": True},
             f"suite {data['name']}@{data['version']} threshold {data.get('threshold')} {what}")
        return EXIT_OK
