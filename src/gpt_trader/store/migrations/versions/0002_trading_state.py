"""What trading needs: account settings and status, position state, round trips, one equity snapshot per
account and time (with units), the quote of each fill, stop prices, and the product and connection of feed events.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gpt_trader.store.types import ExactDecimal, UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _text_enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, length=16)


def upgrade() -> None:
    op.add_column("accounts", sa.Column("settings", sa.JSON(), server_default=sa.text("'{}'"), nullable=False))
    op.add_column(
        "accounts",
        sa.Column(
            "status",
            _text_enum("accountstatus", "active", "stopped", "failed"),
            server_default="active",
            nullable=False,
        ),
    )
    op.add_column("accounts", sa.Column("error", sa.Text(), nullable=True))
    op.add_column("orders", sa.Column("stop_price", ExactDecimal(), nullable=True))
    op.add_column("fills", sa.Column("bid", ExactDecimal(), nullable=True))
    op.add_column("fills", sa.Column("ask", ExactDecimal(), nullable=True))
    op.add_column("feed_events", sa.Column("product_id", sa.String(length=32), nullable=True))
    op.add_column("feed_events", sa.Column("connection", sa.Integer(), nullable=True))

    op.add_column("equity_snapshots", sa.Column("units", ExactDecimal(), server_default="0", nullable=False))
    # One snapshot per account and time from now on: keep the newest of any earlier duplicates.
    op.execute(
        "DELETE FROM equity_snapshots WHERE id NOT IN "
        "(SELECT MAX(id) FROM equity_snapshots GROUP BY account_id, time)"
    )
    op.drop_index(op.f("ix_equity_snapshots_account_id_time"), table_name="equity_snapshots")
    op.create_index(
        op.f("ix_equity_snapshots_account_id_time"), "equity_snapshots", ["account_id", "time"], unique=True
    )

    op.create_table(
        "position_states",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.String(length=32), nullable=False),
        sa.Column("units", ExactDecimal(), nullable=False),
        sa.Column("entry_price", ExactDecimal(), nullable=True),
        sa.Column("entry_time", UtcDateTime(), nullable=True),
        sa.Column("stop_loss_level", sa.Float(), nullable=True),
        sa.Column("take_profit_level", sa.Float(), nullable=True),
        sa.Column("trailing_best", sa.Float(), nullable=True),
        sa.Column("pending_signal", sa.Integer(), nullable=True),
        sa.Column("last_bar_time", UtcDateTime(), nullable=True),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_position_states_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_position_states")),
    )

    op.create_table(
        "round_trips",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.String(length=32), nullable=False),
        sa.Column("side", _text_enum("orderside", "BUY", "SELL"), nullable=False),
        sa.Column("units", ExactDecimal(), nullable=False),
        sa.Column("entry_time", UtcDateTime(), nullable=False),
        sa.Column("entry_price", ExactDecimal(), nullable=False),
        sa.Column("exit_time", UtcDateTime(), nullable=False),
        sa.Column("exit_price", ExactDecimal(), nullable=False),
        sa.Column("fees", ExactDecimal(), nullable=False),
        sa.Column("pnl", ExactDecimal(), nullable=False),
        sa.Column("exit_reason", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_round_trips_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_round_trips")),
        sa.UniqueConstraint("account_id", "exit_time", name=op.f("uq_round_trips_account_id_exit_time")),
    )


def downgrade() -> None:
    op.drop_table("round_trips")
    op.drop_table("position_states")
    op.drop_index(op.f("ix_equity_snapshots_account_id_time"), table_name="equity_snapshots")
    op.create_index(op.f("ix_equity_snapshots_account_id_time"), "equity_snapshots", ["account_id", "time"])
    # SQLite drops a column only by rebuilding its table: batch mode does that, and is a plain ALTER elsewhere.
    for table, columns in (
        ("equity_snapshots", ("units",)),
        ("feed_events", ("connection", "product_id")),
        ("fills", ("ask", "bid")),
        ("orders", ("stop_price",)),
        ("accounts", ("error", "status", "settings")),
    ):
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.drop_column(column)
