"""Delivery signatures (the scheme MLflow's registry webhooks use, with our header names).

Each delivery carries three headers:

    X-Llmreg-Delivery-Id: <outbox id>          the same on every retry of one delivery
    X-Llmreg-Timestamp:   <unix seconds>       when this attempt was signed
    X-Llmreg-Signature:   v1,<hex HMAC-SHA256>

The signed string is `<delivery id>.<timestamp>.<raw body bytes>`, keyed with the
subscription's secret. A receiver recomputes it over the body it received, compares in
constant time, and refuses a timestamp older than a few minutes (replay).
"""
from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

ID_HEADER = "X-Llmreg-Delivery-Id"
TIMESTAMP_HEADER = "X-Llmreg-Timestamp"
SIGNATURE_HEADER = "X-Llmreg-Signature"
VERSION = "v1"


def signed_string(delivery_id: str | int, timestamp: int, body: bytes) -> bytes:
    return f"{delivery_id}.{timestamp}.".encode("ascii") + body


def sign(secret: str, delivery_id: str | int, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode("utf-8"), signed_string(delivery_id, timestamp, body), hashlib.sha256).hexdigest()
    return f"{VERSION},{digest}"


def signature_headers(secret: str, delivery_id: str | int, timestamp: int, body: bytes) -> dict[str, str]:
    return {ID_HEADER: str(delivery_id), TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(secret, delivery_id, timestamp, body)}


def verify(secret: str, headers: Mapping[str, str], body: bytes, *, now: float, tolerance_s: int = 300) -> bool:
    """What a receiver runs: True when the signature matches and the timestamp is fresh."""
    lower = {k.lower(): v for k, v in headers.items()}
    try:
        delivery_id = lower[ID_HEADER.lower()]
        timestamp = int(lower[TIMESTAMP_HEADER.lower()])
        given = lower[SIGNATURE_HEADER.lower()]
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(given, sign(secret, delivery_id, timestamp, body))
