"""The registry's store: the port (store/port.py) and its SQL implementation (SQLite, PostgreSQL).

The names below load on first use (PEP 562): importing `store.connection` to check a path
must not load the SQL store, its projection and the event log code with it.
"""
from __future__ import annotations

_EXPORTS = {
    "CommitThenRaise": "llmreg.registry.store.port", "Head": "llmreg.registry.store.port",
    "Pointer": "llmreg.registry.store.port", "Store": "llmreg.registry.store.port",
    "UnitOfWork": "llmreg.registry.store.port", "SQLStore": "llmreg.registry.store.sql",
    "Txn": "llmreg.registry.store.sql", "AuditReport": "llmreg.registry.audit",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
