"""`llmreg verify`: re-hash artifacts against the SHA-256 recorded at registration."""
from __future__ import annotations

import sys

from llmreg.cli.context import EXIT_OK, EXIT_REFUSED, emit, open_registry, parse_ref


class Verify:
    """Re-hash artifacts (all, one name, or one version) against their recorded SHA-256: the
    registry's stored copy and the local file the entry points at; exit 1 on a mismatch."""

    def arguments(self, p) -> None:
        p.add_argument("ref", nargs="?", help="NAME or NAME@VERSION; default: everything")

    def run(self, args) -> int:
        reg = open_registry(args)
        name, version = parse_ref(args.ref, version_required=False) if args.ref else (None, None)
        report = reg.verify(name, version)

        def text() -> str:
            lines = [f"{'ok ' if c.ok else 'BAD'} {ref} {c.name}: "
                     f"{c.detail if not c.ok else f'{c.actual} ({c.copy} copy)'}" for ref, c in report.checks]
            artifacts = len({(ref, c.name) for ref, c in report.checks})
            copies = f" ({len(report.checks)} copies read)" if len(report.checks) != artifacts else ""
            lines.append(f"verified {artifacts} artifact(s): "
                         + ("all match" if report.ok else f"{len(report.failures())} mismatch(es)") + copies)
            return "\n".join(lines)
        emit(args, report.to_dict(), text)
        if not report.ok:
            _, first = report.failures()[0]
            print(f"llmreg verify: integrity check failed: {first.detail}", file=sys.stderr)
            return EXIT_REFUSED
        return EXIT_OK
