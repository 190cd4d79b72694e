"""Webhook verbs: subscriptions (`webhooks add|list|remove`), the sender (`webhooks deliver`)
and the delivery log (`webhooks deliveries`).

    llmreg webhooks add https://hooks.example.com/llmreg --events stage.promoted,stage.rolled_back,gate.failed \\
        --name 'support-*' --secret-env LLMREG_HOOK_SECRET --actor admin
    llmreg webhooks deliver --loop            # the sender: signed POSTs, retries with backoff
    llmreg webhooks deliveries --json         # every attempt: status, error, next retry

Adding and removing are audited events (webhook.subscribed / webhook.unsubscribed, role
action `configure`); the URL and the HMAC secret stay out of the log (registry/webhooks.py).
"""
from __future__ import annotations

import os
from datetime import datetime, timezone

from llmreg.cli.context import EXIT_OK, actor, emit, open_registry

SECRET_HELP = ("the HMAC-SHA256 key the receiver verifies X-Llmreg-Signature with (at least 16 characters); "
               "without --secret-env/--secret-file one is generated and printed once")


def _secret(args) -> tuple[str, bool]:
    """(secret, generated): from $VAR, a file, or a new random one."""
    from llmreg.registry.errors import BadInput

    if args.secret_env:
        value = os.environ.get(args.secret_env)
        if not value:
            raise BadInput(f"secret-env: ${args.secret_env} is not set or empty; export it, or use --secret-file F",
                           field="secret-env")
        return value, False
    if args.secret_file:
        try:
            with open(args.secret_file, encoding="utf-8") as handle:
                value = handle.read().rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            raise BadInput(f"secret-file: cannot read {args.secret_file}: {exc.__class__.__name__}: "
                           f"{getattr(exc, 'strerror', None) or exc}; give a readable UTF-8 file", field="secret-file") from None
        return value, False
    import secrets

    return secrets.token_hex(32), True


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _describe(sub) -> str:
    names = "" if sub.name_pattern == "*" else f"; names {sub.name_pattern}"
    return (f"{sub.id}: {sub.origin}/... <- {', '.join(sub.events)}{names}; {sub.format}, "
            f"up to {sub.max_attempts} attempts (event #{sub.seq} by {sub.actor})")


def _counts(counts: dict) -> str:
    return ", ".join(f"{n} {'given up' if state == 'failed' else state}" for state, n in counts.items())


class WebhooksAdd:
    """Subscribe a URL to registry events: each matching event is POSTed by `llmreg webhooks deliver`,
    signed with HMAC-SHA256 (headers X-Llmreg-Delivery-Id, X-Llmreg-Timestamp, X-Llmreg-Signature:
    v1,hex(HMAC(secret, "<id>.<timestamp>.<body>"))), retried with exponential backoff. The outbox row
    is written in the event's own transaction: nothing is sent for an event that did not commit,
    nothing is lost when the sender dies. Audited as webhook.subscribed (needs `configure`); the log
    keeps the URL's origin and SHA-256, never its path, query or the secret. --format slack posts a
    Slack incoming-webhook message instead of the JSON envelope."""

    def arguments(self, p) -> None:
        from llmreg.registry.webhooks import event_types

        p.add_argument("url", help="http(s) endpoint that receives the POSTs")
        p.add_argument("--events", required=True, metavar="TYPE,...",
                       help="comma-separated event types, or '*' for all: " + ", ".join(event_types()))
        p.add_argument("--name", dest="name_pattern", default="*", metavar="PATTERN",
                       help="shell glob over entry names, e.g. 'support-*' (default: every name)")
        group = p.add_mutually_exclusive_group()
        group.add_argument("--secret-env", metavar="VAR", help="read the secret from $VAR; " + SECRET_HELP)
        group.add_argument("--secret-file", metavar="FILE", help="read the secret from FILE (one line)")
        p.add_argument("--format", default="json", metavar="json|slack",
                       help="json: signed envelope {delivery_id, subscription, event}; slack: {text, blocks}")
        p.add_argument("--id", default=None, help="subscription id (default: wh-<seq of its event>)")
        p.add_argument("--max-attempts", type=int, default=8, metavar="N",
                       help="give a delivery up after N failed attempts (1-50, default 8)")

    def run(self, args) -> int:
        from llmreg.registry.webhooks import subscribe_command

        secret, generated = _secret(args)
        who = actor(args)
        # Every field checked before the store is opened: bad input writes nothing.
        subscribe_command(args.url, args.events, secret=secret, actor=who, name_pattern=args.name_pattern,
                          format=args.format, max_attempts=args.max_attempts, id=args.id)
        sub = open_registry(args).add_webhook(args.url, args.events, secret=secret, actor=who,
                                              name_pattern=args.name_pattern, format=args.format,
                                              max_attempts=args.max_attempts, id=args.id)
        data = sub.to_dict()
        if generated:
            data["secret"] = secret
        text = f"subscribed {_describe(sub)}"
        if generated:
            text += f"\nsecret (shown once; give it to the receiver to verify signatures): {secret}"
        emit(args, data, text)
        return EXIT_OK


class WebhooksList:
    """List webhook subscriptions (the fold of the log) with their deliveries by state."""

    def arguments(self, p) -> None:
        pass

    def run(self, args) -> int:
        from llmreg.notify.sql_outbox import SqlOutbox
        from llmreg.registry.store.connection import sqlalchemy_engine

        reg = open_registry(args)
        subs = reg.webhook_subscriptions()
        engine = sqlalchemy_engine(reg.store.url)
        try:
            outbox = SqlOutbox(engine)
            rows = [dict(sub.to_dict(), deliveries=outbox.counts(sub.id)) for sub in subs]
        finally:
            engine.dispose()

        def text() -> str:
            if not subs:
                return "no webhook subscriptions (add one: llmreg webhooks add URL --events ... --actor NAME)"
            return "\n".join(f"{_describe(sub)}\n  deliveries: {_counts(row['deliveries'])}" for sub, row
                             in zip(subs, rows, strict=True))
        emit(args, rows, text)
        return EXIT_OK


class WebhooksRemove:
    """Unsubscribe (audited as webhook.unsubscribed, needs `configure`); its URL and secret are
    deleted. Deliveries already queued for it are given up by the sender, with the reason in
    the delivery log."""

    def arguments(self, p) -> None:
        p.add_argument("id", help="subscription id (llmreg webhooks list)")

    def run(self, args) -> int:
        event = open_registry(args).remove_webhook(args.id, actor=actor(args))
        emit(args, event.to_dict(), f"unsubscribed {args.id} (event #{event.seq})")
        return EXIT_OK


class WebhooksDeliver:
    """The sender: drain the webhook outbox, one signed POST per delivery, in order per
    subscription. A non-2xx answer or a transport error is retried after
    min(--backoff-max, --backoff * 2**(n-1)) seconds (jittered down by up to half); the retry
    time is stored, so a restarted sender keeps the schedule. After --max-attempts of its
    subscription a delivery is given up. Every attempt is a row of `llmreg webhooks deliveries`.
    Delivery is at least once: a sender killed mid-request sends that delivery again once its
    claim (--timeout + 5 s) runs out (same X-Llmreg-Delivery-Id; receivers deduplicate on it).
    Several senders may share a store: each claims a delivery before sending it."""

    def arguments(self, p) -> None:
        mode = p.add_mutually_exclusive_group()
        mode.add_argument("--once", action="store_true", help="one pass over what is due, then exit (default)")
        mode.add_argument("--loop", action="store_true", help="keep sending until SIGTERM or Ctrl-C")
        p.add_argument("--interval", type=float, default=2.0, metavar="S",
                       help="--loop: seconds between passes when nothing is due sooner (default 2)")
        p.add_argument("--wait", type=float, default=0.0, metavar="S",
                       help="--once: keep passing up to S seconds while retries fall due (default 0)")
        p.add_argument("--backoff", type=float, default=2.0, metavar="S", help="first retry delay (default 2)")
        p.add_argument("--backoff-max", type=float, default=3600.0, metavar="S",
                       help="longest retry delay (default 3600)")
        p.add_argument("--timeout", type=float, default=10.0, metavar="S", help="per-request timeout (default 10)")

    def run(self, args) -> int:
        import sys

        from llmreg.notify.delivery import RetrySchedule
        from llmreg.notify.sender import Sender
        from llmreg.registry.errors import BadInput

        for flag, value in (("interval", args.interval), ("backoff", args.backoff), ("backoff-max", args.backoff_max),
                            ("timeout", args.timeout)):
            if not value > 0 or value > 86400:
                raise BadInput(f"{flag}: {value!r}: give seconds above 0 and at most 86400", field=flag)
        if not 0 <= args.wait <= 86400:
            raise BadInput(f"wait: {args.wait!r}: give seconds from 0 to 86400", field="wait")
        reg = open_registry(args)
        schedule = RetrySchedule(base_s=args.backoff, cap_s=max(args.backoff, args.backoff_max))
        with Sender(reg.store, schedule=schedule, timeout_s=args.timeout) as sender:
            if args.loop:
                def progress(report) -> None:
                    if not args.json:
                        print(f"{_when(datetime.now(timezone.utc).timestamp())} {report.summary()}", flush=True)
                report = sender.loop(interval_s=args.interval, on_round=progress)
                print(f"llmreg webhooks deliver: stopped; {report.summary()}", file=sys.stderr)
            elif args.wait:
                report = sender.drain(args.wait)
            else:
                report = sender.run_once()
            pending = sender.outbox.counts()["pending"]
        emit(args, dict(report.to_dict(), pending=pending), lambda: f"{report.summary()}; {pending} pending")
        return EXIT_OK


class WebhooksDeliveries:
    """The delivery log: every attempt (when, subscription, delivery id, event, attempt number,
    HTTP status or error, next retry), oldest first, and how many deliveries are pending,
    delivered and given up."""

    def arguments(self, p) -> None:
        p.add_argument("--id", default=None, help="one subscription only")
        p.add_argument("--limit", type=int, default=50, metavar="N", help="the newest N attempts (default 50)")

    def run(self, args) -> int:
        from llmreg.notify.sql_outbox import SqlOutbox
        from llmreg.registry.errors import BadInput
        from llmreg.registry.store.connection import sqlalchemy_engine

        if not 1 <= args.limit <= 100000:
            raise BadInput(f"limit: {args.limit}: give a number from 1 to 100000", field="limit")
        reg = open_registry(args)
        engine = sqlalchemy_engine(reg.store.url)
        try:
            outbox = SqlOutbox(engine)
            attempts = outbox.attempts(args.id, limit=args.limit)
            counts = outbox.counts(args.id)
        finally:
            engine.dispose()
        rows = [{"delivery_id": a.item_id, "subscription": a.subscription_id, "event_seq": a.event_seq,
                 "event_type": a.event_type, "attempt": a.attempt, "at": _when(a.at), "ok": a.ok, "status": a.status,
                 "error": a.error, "duration_ms": a.duration_ms, "retry_at": _when(a.retry_at) if a.retry_at else None}
                for a in attempts]

        def text() -> str:
            lines = []
            for r in rows:
                outcome = f"ok {r['status']}" if r["ok"] else f"FAILED {r['error']}"
                then = f"; retry at {r['retry_at']}" if r["retry_at"] else ("" if r["ok"] else "; given up")
                lines.append(f"{r['at']}  {r['subscription']}  delivery {r['delivery_id']}  #{r['event_seq']} "
                             f"{r['event_type']}  attempt {r['attempt']}  {outcome}{then}")
            lines.append(f"deliveries: {_counts(counts)}")
            return "\n".join(lines)
        emit(args, {"attempts": rows, "deliveries": counts}, text)
        return EXIT_OK
