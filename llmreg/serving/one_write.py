"""One socket write per answer: the response head goes out with the first body bytes.

uvicorn writes the status line and headers as soon as the app sends `http.response.start`,
then the body in a second write. On loopback each write is a system call that also runs the
receiver's TCP stack and wakes it up, so two writes cost the gateway ~25 us and the client an
extra wake-up, per request. `one_write(send)` holds the head uvicorn writes and prepends it to
the next write of the same response. It only touches uvicorn's own request cycle (the object
behind `send`, which has the `transport` it writes to); under any other server `send` is
returned as it is.

A head is held until the first body message; the gateway sends that at once (a JSON answer is
complete, a stream starts with its first generated part), so nothing waits on it.
"""
from __future__ import annotations

from typing import Any


class _Held:
    """Stands in for the transport while uvicorn writes the head: keeps the bytes."""

    __slots__ = ("data", "real")

    def __init__(self, real: Any) -> None:
        self.real = real
        self.data = b""

    def write(self, data: bytes) -> None:
        self.data += data

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


class _Prefixed:
    """Stands in for the transport during the first body message: its first write carries the head."""

    __slots__ = ("head", "real")

    def __init__(self, real: Any, head: bytes) -> None:
        self.real = real
        self.head = head

    def write(self, data: bytes) -> None:
        head, self.head = self.head, b""
        self.real.write(head + data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def _uvicorn_cycle(send: Any) -> Any:
    cycle = getattr(send, "__self__", None)
    if cycle is None or not type(cycle).__module__.startswith("uvicorn.protocols.http."):
        return None
    return cycle if hasattr(cycle, "transport") and hasattr(cycle, "disconnected") else None


def one_write(send: Any) -> Any:
    """`send`, writing each response's head together with its first body bytes (uvicorn only)."""
    cycle = _uvicorn_cycle(send)
    if cycle is None:
        return send
    head = b""

    async def send_once(message: Any) -> None:
        nonlocal head
        kind = message["type"]
        if kind == "http.response.start":
            real = cycle.transport
            held = cycle.transport = _Held(real)
            try:
                await send(message)
            finally:
                cycle.transport = real
            head = held.data
            return
        if head and kind == "http.response.body":
            real = cycle.transport
            prefixed = cycle.transport = _Prefixed(real, head)
            head = b""
            try:
                await send(message)
            finally:
                cycle.transport = real
            if prefixed.head and not cycle.disconnected and not real.is_closing():
                real.write(prefixed.head)  # a body message that wrote nothing (HEAD): the head alone
            return
        await send(message)

    return send_once
