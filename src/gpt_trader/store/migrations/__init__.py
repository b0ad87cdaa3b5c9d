"""Alembic migrations of the performance database, run by `gpt_trader.store.db.upgrade`."""

HEAD = "0005"
"""The newest revision in `versions/`. Opening an up-to-date database compares with it instead of reading
every migration script; a test holds it equal to Alembic's own head. Update it with each new migration."""
