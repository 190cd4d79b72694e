"""`llmreg resolve`: the tuple holding a stage of an environment, now or at a past time.

The hot verb: it imports nothing beyond the registry's read path (json only for params), and
prints from the stored entry (`Resolved.document()`) without building the value objects.
"""
from __future__ import annotations

from llmreg.cli.context import ENV_HELP, EXIT_OK, STAGE_CHOICES, emit, open_reads


class Resolve:
    """Print the tuple holding a stage of an environment now, or at a past time (--at)."""

    def arguments(self, p) -> None:
        p.add_argument("name", help="entry name, e.g. support-triage")
        p.add_argument("--env", default="default", help=ENV_HELP + " (a stage name here means env default, that stage)")
        p.add_argument("--stage", default=None, choices=STAGE_CHOICES, help="default: production")
        p.add_argument("--at", default=None, help="ISO-8601 time (UTC unless an offset is given): what held the stage then")
        p.add_argument("--verify", action="store_true", help="re-hash the version's artifacts before answering")

    def run(self, args) -> int:
        from llmreg.registry.resolve import env_and_stage

        env, stage = env_and_stage(args.env, args.stage)  # the seed's `--env production` names a stage
        resolved = open_reads(args).resolve(args.name, env, stage=stage, at=args.at, verify=args.verify)
        emit(args, resolved.to_dict(), lambda: describe(resolved))
        return EXIT_OK


def describe(resolved) -> str:
    """The human answer: the ref and where it holds, then one line per component."""
    from llmreg.registry.resolve import request_id

    document = resolved.document()
    spec = document["spec"]
    when = f" at {resolved.at}" if resolved.at else ""
    weight = f" weight {resolved.weight:g}" if resolved.weight is not None else ""
    weight += ", IMPORTED history: never gated here" if document["bump"] == "import" else ""
    lines = [f"{resolved.ref}  ({resolved.stage} in {resolved.env}{when}, since {resolved.since}, "
             f"event #{resolved.seq}{weight})",
             f"  model:      {request_id(spec['model'])} ({spec['model']['provider']})"]
    for label in ("prompt_ref", "tools_ref", "policy_ref"):
        if spec.get(label):
            lines.append(f"  {label + ':':<11} {spec[label]}")
    if spec.get("params"):
        import json

        lines.append(f"  params:     {json.dumps(spec['params'], sort_keys=True)}")
    for component, value in (spec.get("retrieval") or {}).items():
        if isinstance(value, str):
            shown = value
        else:
            shown = " ".join(part for part in (value.get("ref"), f"sha256:{value['sha256'][:16]}..."
                                               if value.get("sha256") else None) if part)
        lines.append(f"  retrieval:  {component} {shown}")
    for artifact in spec.get("artifacts") or ():
        lines.append(f"  artifact:   {artifact['name']} sha256:{artifact['sha256'][:16]}... ({artifact['kind']})")
    return "\n".join(lines)
