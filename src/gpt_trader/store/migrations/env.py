"""Alembic's entry point: runs the migrations on the connection that `gpt_trader.store.db` hands over.

There is no alembic.ini: `gpt_trader.store.db.alembic_config(connection)` builds the configuration,
and every command (upgrade, revision --autogenerate, ...) is run from Python with it.
"""

from __future__ import annotations

from alembic import context

from gpt_trader.store.schema import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "the GPT-Trader migrations run on the connection given to gpt_trader.store.db.alembic_config"
    )

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    # SQLite cannot ALTER most things: later migrations rebuild the table instead ("batch" mode).
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
