"""Policy verbs: who may do what (`roles set|show`) and the gate thresholds (`gates set|show`)."""
from __future__ import annotations

from llmreg.cli.context import EXIT_OK, actor, emit, open_registry, read_mapping


class RolesSet:
    """Replace the roles from a YAML file {roles: {role: [actions]}, members: {actor: [roles]}} (audited)."""

    def arguments(self, p) -> None:
        p.add_argument("file")
        p.add_argument("--signers", metavar="FILE", help="allowed-signers file binding members to public keys "
                       "(git's format); or `signers:` in the roles file")

    def run(self, args) -> int:
        reg = open_registry(args)
        event = reg.configure_roles(read_mapping(args.file, "roles"), actor=actor(args), signers=args.signers)
        emit(args, event.to_dict(), f"roles configured from {args.file} (event #{event.seq})")
        return EXIT_OK


class RolesShow:
    """Show the roles in force."""

    def arguments(self, p) -> None:
        pass

    def run(self, args) -> int:
        data = open_registry(args).roles().to_dict()

        def text() -> str:
            import yaml

            if data.get("open"):
                return "no roles configured (embedded mode: every actor may do everything)"
            return yaml.safe_dump(data, sort_keys=False).rstrip()
        emit(args, data, text)
        return EXIT_OK


class GatesSet:
    """Replace the gates config from a YAML file (eval_threshold, fairness_max_gap, canary_slo, ...; audited)."""

    def arguments(self, p) -> None:
        p.add_argument("file")

    def run(self, args) -> int:
        reg = open_registry(args)
        event = reg.configure_gates(read_mapping(args.file, "gates"), actor=actor(args))
        emit(args, event.to_dict(), f"gates configured from {args.file} (event #{event.seq})")
        return EXIT_OK


class GatesShow:
    """Show the gates config in force."""

    def arguments(self, p) -> None:
        pass

    def run(self, args) -> int:
        data = open_registry(args).gates().to_dict()

        def text() -> str:
            import yaml

            shown = yaml.safe_dump(data, sort_keys=False).rstrip()
            if "fairness_max_gap" not in data:
                from llmreg.registry.gates_config import DEFAULT_FAIRNESS_MAX_GAP

                shown += (f"\n# fairness_max_gap not set: an entry's gates, else the eval suite's fairness.max_gap, "
                          f"else the built-in default {DEFAULT_FAIRNESS_MAX_GAP:g} applies")
            return shown
        emit(args, data, text)
        return EXIT_OK


class PolicySet:
    """Replace the production approval policy from a YAML/JSON file: {default: RULE, names: {NAME:
    RULE}}, each RULE {required, distinct_keys, author_may_approve, required_roles: {role: n}}; a
    name may only tighten the default, and gates.yaml's required_production_approvals stays a
    floor. Audited as config.approvals; the production gate and `audit verify` use it from then on."""

    def arguments(self, p) -> None:
        p.add_argument("file")

    def run(self, args) -> int:
        event = open_registry(args).configure_approval_policy(args.file, actor=actor(args))
        emit(args, event.to_dict(), f"approval policy set from {args.file} (event #{event.seq})")
        return EXIT_OK


class PolicyShow:
    """Print the approval policy in force: the document, or with NAME the rule the production gate
    applies to that name (as refusals and the model card state it)."""

    def arguments(self, p) -> None:
        p.add_argument("name", nargs="?", help="an entry name: the rule in force for it")

    def run(self, args) -> int:
        from llmreg.registry.handlers.policy import stated

        reg = open_registry(args)
        if args.name:
            rule, source = reg.approval_rule(args.name)
            emit(args, {"name": args.name, "source": source, "rule": rule.to_dict(), "policy": stated(rule, source)},
                 lambda: stated(rule, source))
            return EXIT_OK
        policy = reg.approval_policy()

        def text() -> str:
            lines = [f"default: {policy.default.describe()}"]
            lines += [f"{name}: {rule.describe()}" for name, rule in sorted(policy.names.items())]
            return "\n".join(lines)
        emit(args, policy.to_dict(), text)
        return EXIT_OK
