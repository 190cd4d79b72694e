"""Verbs for trust: `audit verify [--checkpoint FILE...] [--since FILE]`, `audit checkpoint`,
`audit export`, `db grant` (rows in llmreg.cli's command table)."""
from __future__ import annotations

import os
import sys

from llmreg.cli.context import EXIT_OK, EXIT_REFUSED, emit, open_registry


def _signing_key(args):
    """--key, else the keyring key of --actor/$LLMREG_ACTOR, else $LLMREG_SIGNING_KEY / the per-user key."""
    from llmreg.registry.identity import KeySource
    from llmreg.registry.keys import load_signing_key

    who = getattr(args, "actor", None) or os.environ.get("LLMREG_ACTOR")
    if who and not getattr(args, "signing_key", None):
        return KeySource().key_for(who)
    return load_signing_key(getattr(args, "signing_key", None))


class AuditVerify:
    """Check, and name the first event that fails: the hash chain, every signature against the keys bound at
    that point, who signed, the log's own rules (roles in force, promotions re-judged on what was recorded
    before them, times), and that the projection equals a fresh fold of the log."""

    def arguments(self, p) -> None:
        p.add_argument("--checkpoint", action="append", metavar="FILE",
                       help="a signed checkpoint the log must extend (repeatable)")
        p.add_argument("--since", metavar="FILE", help="a trusted checkpoint: check signatures only after it")
        p.add_argument("--trust", metavar="FILE", help="allowed-signers file of checkpoint signers; default: the "
                       "members bound in the log (embedded mode: every key that signed an event)")
        p.add_argument("--legacy-unsigned", type=int, default=0, metavar="SEQ",
                       help="events up to SEQ may be unsigned (written before signing existed)")

    def run(self, args) -> int:
        from llmreg.registry.checkpoint import read_checkpoint
        from llmreg.registry.witness import check_checkpoint, trusted_signers

        reg = open_registry(args)
        paths = list(args.checkpoint or []) + ([args.since] if args.since else [])
        checkpoints = [(path, read_checkpoint(path)) for path in paths]  # a bad file: exit 2 before any work
        signers = trusted_signers(reg, args.trust) if checkpoints else None
        lines, failed = [], None
        for path, cp in checkpoints:
            check = check_checkpoint(reg, cp, signers)
            lines.append(f"{'ok ' if check.ok else 'BAD'} {path}: {check.reason} (signed by {cp.signer})")
            if not check.ok and failed is None:
                failed = check.reason
        after = read_checkpoint(args.since).seq if args.since and failed is None else 0
        report = reg.verify_audit(after_seq=after, legacy_unsigned=args.legacy_unsigned) if failed is None else None
        data = {"checkpoints": lines, **(report.to_dict() if report else {"ok": False, "reason": failed})}
        emit(args, data, lambda: "\n".join(lines + ([report.summary()] if report else [])))
        if report is None or not report.ok:
            why = failed if report is None else report.summary()
            print(f"llmreg audit verify: integrity check failed: {why}", file=sys.stderr)
            return EXIT_REFUSED
        return EXIT_OK


class AuditCheckpoint:
    """Write a signed checkpoint (registry id, seq, head hash, time, signer) of a log that verifies; keep it
    where the database's owner cannot change it (a git repository)."""

    def arguments(self, p) -> None:
        p.add_argument("--out", metavar="FILE", help="where to write it; default: stdout")
        p.add_argument("--key", dest="signing_key", default=None, help="private key that signs; default: --actor's key")

    def run(self, args) -> int:
        from llmreg.registry.checkpoint import write_checkpoint
        from llmreg.registry.witness import take_checkpoint

        cp = take_checkpoint(open_registry(args), _signing_key(args))
        if not args.out:
            sys.stdout.write(cp.to_text())
            return EXIT_OK
        write_checkpoint(args.out, cp)
        emit(args, cp.to_dict(), f"checkpoint #{cp.seq} {cp.head_hash} of {cp.registry_id} signed by {cp.signer} "
                                 f"written to {args.out}")
        return EXIT_OK


class AuditExport:
    """Write the log as JSON Lines with signatures and public keys; `python tools/verify_audit_export.py FILE`
    checks it offline, without installing llm-registry."""

    def arguments(self, p) -> None:
        p.add_argument("file", help="output file (JSON Lines)")

    def run(self, args) -> int:
        from llmreg.registry.audit_export import ExportedEvent, write_export
        from llmreg.registry.keys import PublicKey
        from llmreg.registry.witness import registry_id

        store = open_registry(args).store
        head = store.head()
        keys = [PublicKey.parse(line) for line in store.public_keys().values()]
        with open(args.file, "w", encoding="utf-8") as out:
            count = write_export(out, registry_id=registry_id(store), keys=keys,
                                 events=(ExportedEvent(*row) for row in store.iter_event_rows(until=head.seq)))
        emit(args, {"file": args.file, "events": count, "keys": len(keys)},
             f"exported {count} events and {len(keys)} public keys to {args.file}")
        return EXIT_OK


class DbGrant:
    """Create (if missing) and grant the app role (reads, appends; cannot alter, drop or disable triggers) and
    the read-only role on a PostgreSQL store; connect as the owning role, after every migration."""

    def arguments(self, p) -> None:
        p.add_argument("--app-role", default="llmreg_app")
        p.add_argument("--reader-role", default="llmreg_reader")

    def run(self, args) -> int:
        from llmreg.registry.store.connection import parse_url
        from llmreg.registry.store.grants import grant_roles

        url = args.store or os.environ.get("LLMREG_STORE") or ""
        report = grant_roles(url, args.app_role, args.reader_role)
        created = f" (created {', '.join(report.created)})" if report.created else ""
        emit(args, {"schema": report.schema, "owner": report.owner, "app_role": report.app_role,
                    "reader_role": report.reader_role, "created": list(report.created),
                    "statements": list(report.statements)},
             f"granted on {parse_url(url).redacted()} schema {report.schema}{created}: {report.app_role} may read "
             f"and append, {report.reader_role} may only read")
        return EXIT_OK
