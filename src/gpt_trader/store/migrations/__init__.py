"""Alembic migrations of the performance database, run by `gpt_trader.store.db.upgrade`."""
