"""The registry's store: the port (store/port.py) and its SQL implementation (SQLite, PostgreSQL)."""
from llmreg.registry.store.port import CommitThenRaise, Head, Pointer, Store, UnitOfWork
from llmreg.registry.store.sql import AuditReport, SQLStore, Txn

__all__ = ["AuditReport", "CommitThenRaise", "Head", "Pointer", "SQLStore", "Store", "Txn", "UnitOfWork"]
