"""The sender over a registry store: what `llmreg webhooks deliver` runs.

    from llmreg.notify.sender import Sender
    with Sender.open(reg.store) as sender:      # a SQL store (SQLite file or PostgreSQL)
        report = sender.run_once()              # one pass: signed POSTs, retries scheduled
        sender.loop(interval_s=2.0)             # until stopped (SIGTERM / Ctrl-C), sleeping between passes

Subscriptions are read from the registry (the fold of the log: events, name pattern,
format, max attempts) and their endpoint (full URL + HMAC secret) from webhook_secrets, on
each pass whose head.config_seq moved. An endpoint whose URL no longer hashes to the digest
the webhook.subscribed event recorded was changed outside the log: its deliveries are given
up with that reason in the delivery log, never sent to the changed URL.
"""
from __future__ import annotations

import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from llmreg.registry.errors import BadInput
from llmreg.registry.webhooks import url_digest

from .delivery import DeliveryWorker, RetrySchedule, RoundReport, Undeliverable, http_post
from .sql_outbox import SqlOutbox
from .subscriptions import Subscription


@dataclass
class RegistrySubscriptions:
    """subscription id -> notify Subscription, read from the store and cached per config_seq."""

    store: Any
    _cache: tuple[int, dict[str, Any]] | None = field(default=None, repr=False)

    def __call__(self, sub_id: str) -> Subscription | None:
        config_seq = self.store.head().config_seq
        if self._cache is None or self._cache[0] != config_seq:
            self._cache = (config_seq, {})
            subs = {sub.id: sub for sub in self.store.webhook_subscriptions()}
            for ident, sub in subs.items():
                self._cache[1][ident] = self._resolve(sub)
        found = self._cache[1].get(sub_id)
        if found is None:
            raise Undeliverable(f"subscription {sub_id} was removed (webhook.unsubscribed); not sent")
        if isinstance(found, Undeliverable):
            raise found
        return found

    def _resolve(self, sub) -> Subscription | Undeliverable:
        endpoint = self.store.webhook_endpoint(sub.id)
        if endpoint is None:
            return Undeliverable(f"subscription {sub.id}: its endpoint row (URL, secret) is missing from "
                                 "webhook_secrets; remove and add the subscription again")
        url, secret = endpoint
        if url_digest(url) != sub.url_sha256:
            return Undeliverable(f"subscription {sub.id}: its URL was changed outside the log (sha256 differs from "
                                 f"event #{sub.seq}); not sent. Remove and add the subscription again")
        try:
            return Subscription.from_registry(sub, url, secret)
        except BadInput as exc:
            return Undeliverable(f"subscription {sub.id}: {exc}")


class Sender:
    def __init__(self, store: Any, *, schedule: RetrySchedule | None = None, timeout_s: float = 10.0,
                 post=http_post, clock: Callable[[], float] = time.time):
        from llmreg.registry.store.connection import sqlalchemy_engine

        url = getattr(store, "url", None)
        if url is None:
            raise BadInput("store: the webhook sender needs a SQL store (SQLite file or PostgreSQL)", field="store")
        self.store = store
        self.engine = sqlalchemy_engine(url)
        self.outbox = SqlOutbox(self.engine)
        self.worker = DeliveryWorker(self.outbox, RegistrySubscriptions(store), post=post, clock=clock,
                                     schedule=schedule or RetrySchedule(), timeout_s=timeout_s)
        self.stopping = threading.Event()

    @classmethod
    def open(cls, store: Any, **kwargs: Any) -> "Sender":
        return cls(store, **kwargs)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> "Sender":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run_once(self) -> RoundReport:
        return self.worker.run_once()

    def drain(self, within_s: float) -> RoundReport:
        """Passes until nothing is pending or `within_s` passed (sleeping until the next retry)."""
        return self.worker.drain(within_s=within_s, sleep=self._sleep)

    def _sleep(self, seconds: float) -> None:
        self.stopping.wait(seconds)  # stop() ends the wait at once

    def loop(self, *, interval_s: float = 2.0, on_round: Callable[[RoundReport], None] | None = None) -> RoundReport:
        """Run passes until `stop()` (or SIGTERM/SIGINT when run in the main thread); between
        passes sleep `interval_s`, or less when a retry falls due sooner."""
        total = RoundReport()
        restore = self._trap_signals()
        try:
            while not self.stopping.is_set():
                report = self.worker.run_once()
                total.merge(report)
                if on_round is not None and (report.delivered or report.retrying or report.given_up):
                    on_round(report)
                wait = interval_s
                if report.next_due is not None:
                    wait = max(0.05, min(interval_s, report.next_due - time.time()))
                self.stopping.wait(wait)
        finally:
            restore()
        return total

    def stop(self) -> None:
        self.stopping.set()

    def _trap_signals(self) -> Callable[[], None]:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
        for sig in before:
            signal.signal(sig, lambda *_: self.stop())

        def restore() -> None:
            for sig, handler in before.items():
                signal.signal(sig, handler)
        return restore
