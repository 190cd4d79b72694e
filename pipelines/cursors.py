"""Sensor cursors tied to the registry they read: `{"store": <identity>, "seq": <last seq>}`.

A store's identity is the hash of its first event, which no later write changes. A cursor
from another store (the pipeline pointed elsewhere, a rebuilt database) is not applied: the
tick starts from the beginning of the log it actually reads and says so.
"""
from __future__ import annotations

import json


def store_identity(reg) -> str:
    first = next(iter(reg.events(limit=1)), None)
    return first.hash if first is not None else "empty"


def read_cursor(cursor: str | None, identity: str) -> tuple[int, str | None]:
    """(seq to read after, a note when the cursor was not applied)."""
    if not cursor:
        return 0, None
    try:
        data = json.loads(cursor)
        store, seq = data["store"], int(data["seq"])
    except (ValueError, KeyError, TypeError):
        return 0, f"cursor {cursor!r} is not a store-bound cursor; reading the log from the start"
    if store != identity:
        return 0, (f"cursor belongs to store {store[:12]}, this registry is {identity[:12]}; "
                   "reading its log from the start")
    return seq, None


def write_cursor(identity: str, seq: int) -> str:
    return json.dumps({"store": identity, "seq": seq}, sort_keys=True)
