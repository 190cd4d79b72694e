"""Entry verbs: `register` a version, `list` entries or versions, `show` one, `diff` two."""
from __future__ import annotations

from llmreg.cli.context import EXIT_OK, actor, emit, open_registry, parse_ref

ROLES_OPEN = ("roles: none configured (embedded mode: every actor may do everything; "
              "set them with `llmreg roles set roles.yaml`)")


class Register:
    """Register a new version of an entry from a YAML/JSON file; the version is bumped from the
    diff against the latest one."""

    def arguments(self, p) -> None:
        p.add_argument("file", help="entry file (.yaml, .yml or .json)")
        p.add_argument("--bump", choices=("major", "minor", "patch"), help="override the bump the diff implies (recorded)")
        p.add_argument("--version", help="explicit version X.Y.Z (above every existing one; recorded)")
        p.add_argument("--import-history", action="store_true",
                       help="accept version/status/approved_by from the file (an audited import; needs `configure`)")
        p.add_argument("--env", default="default", help="environment an imported status applies to; default: default")

    def run(self, args) -> int:
        reg = open_registry(args)
        entry = reg.register_file(args.file, actor=actor(args), bump=args.bump, version=args.version,
                                  import_history=args.import_history, env=args.env)
        emit(args, {"ref": entry.ref, **entry.to_dict()}, f"registered {entry.ref} ({entry.bump_reason})")
        return EXIT_OK


class List:
    """List entries with their latest version and the stages they hold, or every version of NAME."""

    def arguments(self, p) -> None:
        p.add_argument("name", nargs="?", help="list every version of this entry")

    def run(self, args) -> int:
        reg = open_registry(args)
        open_mode = not reg.roles_configured
        mode = ROLES_OPEN if open_mode else "roles: configured"
        if args.name:
            return self._versions(args, reg, mode, open_mode)
        rows = [{"name": entry.name, "latest": entry.version, "versions": len(reg.versions(entry.name)),
                 "stages": reg.status(entry.name), "model": entry.spec.model.request_id}
                for entry in reg.list_entries()]

        def text() -> str:
            lines = [mode]
            if not rows:
                lines.append("no entries yet; register one with `llmreg register entry.yaml`")
                return "\n".join(lines)
            lines.append(f"{'NAME':<28} {'LATEST':<10} {'#':>4}  STAGES")
            for row in rows:
                stages = "  ".join(f"{env}/{stage}={v}" for env, held in row["stages"].items()
                                   for stage, v in held.items())
                lines.append(f"{row['name']:<28} {row['latest']:<10} {row['versions']:>4}  {stages or '-'}")
            return "\n".join(lines)
        emit(args, {"roles_configured": not open_mode, "entries": rows}, text)
        return EXIT_OK

    def _versions(self, args, reg, mode: str, open_mode: bool) -> int:
        from llmreg.registry.entry import bump_summary

        status = reg.status(args.name)
        rows = [{"ref": entry.ref, "version": entry.version, "created_at": entry.created_at, "author": entry.author,
                 "bump": entry.bump, "bump_reason": entry.bump_reason,
                 "status": status.versions.get(entry.version, {})}
                for entry in reg.list_entries(args.name)]

        def text() -> str:
            lines = [mode, f"{'VERSION':<10} {'CREATED (UTC)':<27} {'AUTHOR':<16} STATUS / CHANGE"]
            for row in rows:
                status = ", ".join(f"{env}:{s}" for env, s in row["status"].items()) or "development"
                lines.append(f"{row['version']:<10} {row['created_at']:<27} {row['author']:<16} {status}  "
                             f"({bump_summary(row['bump'], row['bump_reason'])})")
            return "\n".join(lines)
        emit(args, {"roles_configured": not open_mode, "name": args.name, "versions": rows}, text)
        return EXIT_OK


class Show:
    """Show one entry version (latest when no @VERSION) with its status per environment."""

    def arguments(self, p) -> None:
        p.add_argument("ref", help="NAME or NAME@VERSION")

    def run(self, args) -> int:
        reg = open_registry(args)
        name, version = parse_ref(args.ref, version_required=False)
        entry = reg.get(name, version)
        data = {"ref": entry.ref, **entry.to_dict(), "status": reg.status(entry.name).versions.get(entry.version, {})}

        def text() -> str:
            import yaml

            return yaml.safe_dump(data, sort_keys=False, allow_unicode=True).rstrip()
        emit(args, data, text)
        return EXIT_OK


class Diff:
    """Field-level diff between two versions (or entry files) and the bump it implies."""

    def arguments(self, p) -> None:
        p.add_argument("a", help="NAME@VERSION or an entry file")
        p.add_argument("b", help="NAME@VERSION or an entry file")

    def run(self, args) -> int:
        import json

        reg = open_registry(args)
        diff = reg.diff(_diff_side(args.a), _diff_side(args.b))

        def text() -> str:
            if diff.identical:
                return f"{args.a} and {args.b} are identical"
            lines = [f"{c.level:<5}  {c.path}: {json.dumps(c.old)} -> {json.dumps(c.new)}" for c in diff.changes]
            lines.append(f"implies a {diff.bump} bump" if diff.bump else "no bump (first version)")
            return "\n".join(lines)
        emit(args, diff.to_dict(), text)
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
