"""Alembic environment: migrations run on the connection geopain hands over (see geopain.store.open_store)."""
from alembic import context

from geopain.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - geopain always passes a connection
    raise RuntimeError("geopain's migrations run through geopain.store.open_store(url)")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
