"""Indexes for the dashboards' reads: the newest fills (by time) and every account's working orders (by status).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f("ix_fills_time"), "fills", ["time"])
    op.create_index(op.f("ix_orders_status_account_id"), "orders", ["status", "account_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_orders_status_account_id"), table_name="orders")
    op.drop_index(op.f("ix_fills_time"), table_name="fills")
