"""Alembic environment: the registry runs migrations itself (registry.store.migrate).

The caller passes an open SQLAlchemy connection in `config.attributes["connection"]`;
there is no alembic.ini and no URL here. The version table is `llmreg_alembic_version`
so the registry can share a database with an application's own Alembic history.
"""
from __future__ import annotations

from alembic import context

from llmreg.registry.store.schema import metadata

VERSION_TABLE = "llmreg_alembic_version"

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run registry migrations through registry.store.migrate.upgrade(), which passes a connection")

context.configure(connection=connection, target_metadata=metadata, version_table=VERSION_TABLE,
                  transaction_per_migration=False)
with context.begin_transaction():
    context.run_migrations()
