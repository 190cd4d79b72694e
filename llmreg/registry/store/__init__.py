"""The registry's SQL store (SQLite embedded default, PostgreSQL for teams); see sql.py."""
from llmreg.registry.store.sql import AuditReport, CommitThenRaise, Head, Pointer, SQLStore, Txn

__all__ = ["AuditReport", "CommitThenRaise", "Head", "Pointer", "SQLStore", "Txn"]
