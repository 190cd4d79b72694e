"""Entry verbs: `register` a version, `list` entries or versions, `show` one, `diff` two."""
from __future__ import annotations

import sys

from llmreg.cli.context import EXIT_OK, actor, emit, open_reads, open_registry, parse_ref

ROLES_OPEN = ("roles: none configured (embedded mode: every actor may do everything; "
              "set them with `llmreg roles set roles.yaml`)")


class Register:
    """Register a new version of an entry from a YAML/JSON file; the version is bumped from the
    diff against the latest one. Several files register in one transaction: all of them or
    none, with one durable commit for the lot (each still gets its own signed event and bump)."""

    def arguments(self, p) -> None:
        p.add_argument("file", nargs="+", help="entry file (.yaml, .yml or .json); several: one transaction")
        p.add_argument("--bump", choices=("major", "minor", "patch"), help="override the bump the diff implies (recorded)")
        p.add_argument("--version", help="explicit version X.Y.Z (above every existing one; recorded)")
        p.add_argument("--import-history", action="store_true",
                       help="accept version/status/approved_by from the file (an audited import; needs `configure`)")
        p.add_argument("--env", default="default", help="environment an imported status applies to; default: default")

    def run(self, args) -> int:
        if len(args.file) > 1:
            return self._batch(args)
        who = actor(args)  # before opening: a refused command creates no store
        entry = open_registry(args).register_file(args.file[0], actor=who, bump=args.bump, version=args.version,
                                                  import_history=args.import_history, env=args.env)
        emit(args, {"ref": entry.ref, **entry.to_dict()}, f"registered {entry.ref} ({entry.bump_reason})")
        return EXIT_OK

    def _batch(self, args) -> int:
        from llmreg.registry.errors import BadInput

        for flag, given in (("--bump", args.bump), ("--version", args.version),
                            ("--import-history", args.import_history)):
            if given:
                raise BadInput(f"file: {flag} applies to one file; register that file on its own", field="file")
        who = actor(args)
        entries = open_registry(args).register_many(args.file, actor=who)
        emit(args, [{"ref": e.ref, **e.to_dict()} for e in entries],
             lambda: "\n".join(f"registered {e.ref} ({e.bump_reason})" for e in entries)
             + f"\n{len(entries)} versions in one transaction")
        return EXIT_OK


class List:
    """List entries with their latest version and the stages they hold, or every version of NAME.
    Pages of --limit rows (default 100; 0: all), read as stored: nothing is re-validated."""

    def arguments(self, p) -> None:
        p.add_argument("name", nargs="?", help="list every version of this entry")
        p.add_argument("--limit", type=int, default=100, help="rows per page (default 100; 0: all)")
        p.add_argument("--page", type=int, default=1, help="which page of --limit rows (default 1)")

    def run(self, args) -> int:
        from llmreg.registry.errors import BadInput

        if args.limit < 0 or args.page < 1:
            raise BadInput("list: --limit takes 0 (all) or more and --page 1 or more; e.g. --limit 50 --page 2",
                           field="limit" if args.limit < 0 else "page")
        reg = open_reads(args)
        open_mode = not reg.roles_configured
        mode = ROLES_OPEN if open_mode else "roles: configured"
        if args.name:
            return self._versions(args, reg, mode, open_mode)
        rows, total = reg.name_page(args.limit or None, (args.page - 1) * args.limit)
        stages: dict[str, dict] = {}
        pointers = reg.pointers() if len(rows) > 50 else [p for row in rows for p in reg.pointers(row["name"])]
        for pointer in pointers:
            stages.setdefault(pointer.name, {}).setdefault(pointer.env, {})[pointer.stage] = pointer.version
        for row in rows:
            row["stages"] = stages.get(row["name"], {})

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
            return "\n".join(lines) + _more(args, len(rows), total, "names")
        emit(args, {"roles_configured": not open_mode, "entries": rows, "total": total, "page": args.page,
                    "limit": args.limit}, text)
        return EXIT_OK

    def _versions(self, args, reg, mode: str, open_mode: bool) -> int:
        if not args.json:
            return self._version_lines(args, reg, mode)
        rows, total = reg.version_page(args.name, args.limit or None, (args.page - 1) * args.limit)
        status = reg.status(args.name).versions  # one query for the name, not one per version
        for row in rows:
            row["ref"] = f"{args.name}@{row['version']}"
            row["status"] = status.get(row["version"], {})
        emit(args, {"roles_configured": not open_mode, "name": args.name, "versions": rows, "total": total,
                    "page": args.page, "limit": args.limit}, "")
        return EXIT_OK

    @staticmethod
    def _version_lines(args, reg, mode: str) -> int:
        """The text listing, written as it is formatted from the stored rows (no dict per
        version, no whole-listing string): `--limit 0` at 100k versions stays small."""
        from llmreg.registry.entry import bump_summary

        rows, total = reg.version_rows(args.name, args.limit or None, (args.page - 1) * args.limit)
        status = reg.status(args.name).versions  # one query for the name, not one per version
        write = sys.stdout.write
        write(f"{mode}\n{'VERSION':<10} {'CREATED (UTC)':<27} {'AUTHOR':<16} STATUS / CHANGE\n")
        lines: list[str] = []
        summaries: dict[tuple, str] = {}  # versions of a name mostly repeat a few bump reasons
        for version, created_at, author, bump, reason in rows:
            held = status.get(version)
            shown = ", ".join(f"{env}:{s}" for env, s in held.items()) if held else "development"
            summary = summaries.get((bump, reason))
            if summary is None:
                summary = summaries[(bump, reason)] = bump_summary(bump, reason)
            lines.append(f"{version:<10} {created_at:<27} {author:<16} {shown}  ({summary})\n")
            if len(lines) >= 4096:
                write("".join(lines))
                lines.clear()
        write("".join(lines))
        more = _more(args, len(rows), total, "versions")
        if more:
            write(more.lstrip("\n") + "\n")
        return EXIT_OK


def _more(args, shown: int, total: int, what: str) -> str:
    """The footer of a page that is not the last."""
    offset = (args.page - 1) * args.limit
    if offset + shown >= total:
        return ""
    return f"\n{what} {offset + 1}-{offset + shown} of {total}; next: --page {args.page + 1} (--limit 0 lists all)"


class Show:
    """Show one entry version (latest when no @VERSION) with its status per environment."""

    def arguments(self, p) -> None:
        p.add_argument("ref", help="NAME or NAME@VERSION")

    def run(self, args) -> int:
        reg = open_registry(args)
        name, version = parse_ref(args.ref, version_required=False)
        entry = reg.get(name, version)
        data = {"ref": entry.ref, **entry.to_dict(), "imported": entry.bump == "import",
                "status": reg.status(entry.name).versions.get(entry.version, {})}

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
