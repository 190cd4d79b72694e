"""The delivery worker: drains the outbox, one signed POST per item.

- Order: per subscription, only the oldest pending item is tried; while it waits for a
  retry, that subscription's later items wait behind it. An item that exhausts
  `max_attempts` is given up (state failed, in the delivery log) and the next one goes.
- Retries: any non-2xx answer or transport error. The delay before attempt n+1 is
  `min(cap, base * 2**(n-1))`, scaled by a random factor in [1 - jitter, 1] (so receivers
  recovering from an outage are not hit by every sender at once). The retry time is stored
  in the outbox, not slept in-process, so a restarted worker keeps the schedule (this is
  why tenacity's in-process retry loop is not used here).
- Every attempt is one delivery-log row, written with the state change.
"""
from __future__ import annotations

import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from .outbox import Outbox, OutboxItem
from .payloads import render
from .signing import signature_headers
from .subscriptions import Subscription

USER_AGENT = "llmreg-webhooks/1"
Post = Callable[[str, bytes, Mapping[str, str], float], "tuple[int | None, str]"]


@dataclass(frozen=True, slots=True)
class RetrySchedule:
    base_s: float = 2.0
    cap_s: float = 3600.0
    jitter: float = 0.5  # fraction of the delay that is random

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        plain = min(self.cap_s, self.base_s * 2 ** max(0, attempt - 1))
        factor = 1.0 - self.jitter * (rng or random).random()
        return plain * factor


def http_post(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> tuple[int | None, str]:
    """(HTTP status or None, short text); never raises for the receiver's failures."""
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (http(s) only, checked)
            return response.status, response.read(200).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(200).decode("utf-8", "replace") if exc.fp else str(exc)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return None, f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"


class Undeliverable(Exception):
    """Raised by a subscription lookup: this subscription's deliveries cannot be sent (the reason
    goes to the delivery log and the item is given up)."""


@dataclass
class RoundReport:
    delivered: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    given_up: list[int] = field(default_factory=list)
    waiting: int = 0            # items seen but held back (a head not due yet, or behind one)
    next_due: float | None = None

    def to_dict(self) -> dict:
        return {"delivered": self.delivered, "retrying": self.retrying, "given_up": self.given_up,
                "waiting": self.waiting, "next_due": self.next_due}

    def summary(self) -> str:
        line = (f"delivered {len(self.delivered)}, retrying {len(self.retrying)}, given up {len(self.given_up)}, "
                f"waiting {self.waiting}")
        if self.next_due is not None:
            line += f"; next retry due in {max(0.0, self.next_due - time.time()):.1f} s"
        return line

    def merge(self, other: "RoundReport") -> None:
        self.delivered += other.delivered
        self.retrying += other.retrying
        self.given_up += other.given_up
        self.waiting, self.next_due = other.waiting, other.next_due


CLAIM_MARGIN_S = 5.0  # after the POST's timeout: recording the outcome is one short transaction


class DeliveryWorker:
    def __init__(self, outbox: Outbox, subscriptions: Mapping[str, Subscription] | Callable[[str], Subscription | None], *,
                 post: Post = http_post, clock: Callable[[], float] = time.time, schedule: RetrySchedule = RetrySchedule(),
                 timeout_s: float = 10.0, rng: random.Random | None = None):
        self.outbox = outbox
        self._lookup = subscriptions.get if isinstance(subscriptions, Mapping) else subscriptions
        self.post, self.clock, self.schedule, self.timeout_s = post, clock, schedule, timeout_s
        self.rng = rng or random.Random()

    def run_once(self, limit: int = 100, max_items: int = 1000) -> RoundReport:
        """One pass: for each subscription, send its due items in order until one fails.
        Held-back subscriptions are skipped when the next batch is read, so a subscription
        with a long queue behind a failing head does not starve the others."""
        report = RoundReport()
        blocked: set[str] = set()
        handled = 0
        while handled < max_items:
            batch = self.outbox.pending(limit, skip=blocked)
            if not batch:
                break
            for item in batch:
                handled += 1
                if item.subscription_id in blocked:
                    report.waiting += 1
                    continue
                now = self.clock()
                if item.next_attempt_at > now:
                    blocked.add(item.subscription_id)
                    report.waiting += 1
                    report.next_due = min(report.next_due or item.next_attempt_at, item.next_attempt_at)
                    continue
                if not self._deliver(item, report):
                    blocked.add(item.subscription_id)
        return report

    def _deliver(self, item: OutboxItem, report: RoundReport) -> bool:
        # Claimed for the attempt's longest possible time (the POST's timeout) plus a margin:
        # another worker on the same outbox skips it, and keeps its subscription's later items
        # behind it, until this one records the outcome or dies.
        if not self.outbox.claim(item.id, item.next_attempt_at, self.clock() + self.timeout_s + CLAIM_MARGIN_S):
            report.waiting += 1
            return False
        try:
            sub = self._lookup(item.subscription_id)
            reason = f"subscription {item.subscription_id} no longer exists"
        except Undeliverable as exc:
            sub, reason = None, str(exc)
        now = self.clock()
        if sub is None:
            self.outbox.mark_failed(item.id, reason, None, at=now)
            report.given_up.append(item.id)
            return True  # nothing left to order behind it
        body = render(item, sub)
        headers = signature_headers(sub.secret.get_secret_value(), item.id, int(now), body)
        started = time.monotonic()
        status, text = self.post(sub.url, body, headers, self.timeout_s)
        took = round((time.monotonic() - started) * 1000, 3)
        if status is not None and 200 <= status < 300:
            self.outbox.mark_delivered(item.id, status, at=now, duration_ms=took)
            report.delivered.append(item.id)
            return True
        error = f"HTTP {status}: {text[:200]}" if status is not None else text[:300]
        attempt = item.attempts + 1
        if attempt >= sub.max_attempts:
            self.outbox.mark_failed(item.id, f"{error} (gave up after {attempt} attempts)", None, at=now, status=status,
                                    duration_ms=took)
            report.given_up.append(item.id)
            return True  # given up: the subscription's next item may go
        retry_at = now + self.schedule.delay(attempt, self.rng)
        self.outbox.mark_failed(item.id, error, retry_at, at=now, status=status, duration_ms=took)
        report.retrying.append(item.id)
        report.next_due = min(report.next_due or retry_at, retry_at)
        return False

    def drain(self, *, within_s: float, sleep: Callable[[float], None] = time.sleep) -> RoundReport:
        """Run passes until nothing is pending or `within_s` has passed, sleeping until the
        next retry time between passes."""
        total = RoundReport()
        deadline = self.clock() + within_s
        while True:
            report = self.run_once()
            total.merge(report)
            if not self.outbox.pending(1) or self.clock() >= deadline:
                return total
            due = report.next_due if report.next_due is not None else self.clock()
            sleep(max(0.0, min(due, deadline) - self.clock()))
