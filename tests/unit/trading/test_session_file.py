"""The session file: the documented example parses, and every malformed file names the key and its line."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpt_trader.trading.live_guard import LiveLimits
from gpt_trader.trading.session_file import (
    SessionFileError,
    key_line,
    load_session_file,
    parse_session_file,
)

EXAMPLE = Path(__file__).resolve().parents[3] / "docs" / "session.example.toml"

MINIMAL = """\
name = "test"
duration_hours = 6

[[candidates]]
strategy = "ma_crossover"
products = ["btc-usd"]
"""


def test_the_documented_example_parses_with_its_candidates() -> None:
    session = load_session_file(EXAMPLE)
    assert session.live is False
    assert session.rotation.every_hours == 4
    names = [candidate.name for candidate in session.all_candidates()]
    assert names == [
        "ma_crossover(fast=10,slow=30)@BTC-USD",
        "ma_crossover(fast=10,slow=30)@ETH-USD",
        "ma_crossover(fast=20,slow=60)@BTC-USD",
        "ma_crossover(fast=20,slow=60)@ETH-USD",
        "momentum(lookback=20,threshold=0.01)@BTC-USD",
        "mean_reversion()@BTC-USD",
        "mean_reversion()@ETH-USD",
    ]


def test_defaults_are_paper_trading_with_rotation_at_start() -> None:
    session = parse_session_file(MINIMAL)
    assert session.live is False
    assert session.rotation.at_start is True
    assert session.all_candidates()[0].product_id == "BTC-USD"


def _error(text: str) -> str:
    with pytest.raises(SessionFileError) as caught:
        parse_session_file(text, "s.toml")
    return str(caught.value)


def test_a_bad_value_in_a_table_names_the_key_and_its_line() -> None:
    text = MINIMAL + "\n[rotation]\nevery_hours = 4\nmax_drawdown = 2\n"
    message = _error(text)
    assert message.startswith("s.toml, line 10: rotation.max_drawdown:")
    assert "less than 1" in message


def test_an_unknown_key_is_named_with_its_line() -> None:
    message = _error(MINIMAL.replace('name = "test"', 'name = "test"\nlve = true'))
    assert message.startswith("s.toml, line 2: lve: is not a session file key")


def test_the_second_candidate_table_is_found_by_counting() -> None:
    text = MINIMAL + '\n[[candidates]]\nstrategy = "momentum"\nproducts = "BTC-USD"\n'
    message = _error(text)
    assert message.startswith("s.toml, line 10: candidates.1.products:")


def test_an_unknown_strategy_is_refused_with_a_suggestion_and_line() -> None:
    message = _error(MINIMAL.replace('"ma_crossover"', '"ma_crosover"'))
    assert message.startswith("s.toml, line 5: candidates.0.strategy: unknown strategy 'ma_crosover'")
    assert "Did you mean 'ma_crossover'" in message


def test_an_unknown_parameter_is_refused_with_its_line() -> None:
    message = _error(MINIMAL + "params = [{ fast = 10, slower = 30 }]\n")
    assert message.startswith("s.toml, line 7: candidates.0.params.0:")
    assert "no parameter 'slower'" in message


def test_duration_and_end_are_exclusive_and_one_is_needed() -> None:
    assert "exactly one of duration_hours" in _error(MINIMAL.replace("duration_hours = 6\n", ""))
    both = MINIMAL.replace("duration_hours = 6", "duration_hours = 6\nend = 2026-12-04T00:00:00Z")
    assert "exactly one of duration_hours" in _error(both)


def test_a_sandbox_feed_needs_its_url() -> None:
    message = _error(MINIMAL + '\n[feed]\nsource = "sandbox"\n')
    assert message.startswith("s.toml, line 8: feed:")
    assert "url" in message


def test_invalid_toml_and_a_missing_file_are_user_errors(tmp_path: Path) -> None:
    assert _error("name = \n").startswith("s.toml: not valid TOML")
    with pytest.raises(SessionFileError, match="does not exist"):
        load_session_file(tmp_path / "absent.toml")


def test_the_same_candidate_twice_is_refused() -> None:
    message = _error(MINIMAL.replace('["btc-usd"]', '["btc-usd", "BTC-USD"]'))
    assert "listed twice" in message


@settings(max_examples=50)
@given(
    keys=st.lists(st.from_regex(r"[a-z][a-z_]{0,8}", fullmatch=True), min_size=1, max_size=6, unique=True),
    data=st.data(),
)
def test_key_line_finds_every_key_of_a_table(keys: list[str], data: st.DataObject) -> None:
    lines = ["# header", "[section]", *(f"{key} = 1" for key in keys)]
    chosen = data.draw(st.sampled_from(keys))
    assert key_line("\n".join(lines), ("section", chosen)) == 3 + keys.index(chosen)


LIVE = """\
name = "test"
live = true
duration_hours = 6

[feed]
source = "sandbox"
url = "ws://127.0.0.1:8765/ws"

[live_limits]
max_order_notional = 100
max_daily_notional = "1000.50"
max_daily_loss = 50
max_open_orders = 3

[[candidates]]
strategy = "ma_crossover"
products = ["btc-usd"]
"""


def test_a_live_session_file_gives_its_limits() -> None:
    session = parse_session_file(LIVE)
    assert session.live is True and session.live_limits is not None
    assert session.live_limits.limits() == LiveLimits(Decimal(100), Decimal("1000.50"), Decimal(50), 3)


def test_a_live_session_needs_its_limits() -> None:
    without = LIVE[: LIVE.index("[live_limits]")] + LIVE[LIVE.index("[[candidates]]") :]
    with pytest.raises(SessionFileError, match=r"live = true needs a \[live_limits\] table with max_order_notional"):
        parse_session_file(without)


def test_a_live_session_needs_a_live_feed() -> None:
    replay = LIVE.replace('source = "sandbox"', 'source = "replay"')
    with pytest.raises(
        SessionFileError, match=re.escape('live = true trades a live feed: set feed.source = "sandbox"')
    ):
        parse_session_file(replay)


@pytest.mark.parametrize(
    ("line", "replacement", "message"),
    [
        (
            "max_order_notional = 100",
            "max_order_notional = 0",
            "line 10: live_limits.max_order_notional: Input should be greater than 0",
        ),
        (
            "max_open_orders = 3",
            "max_open_orders = 0",
            "line 13: live_limits.max_open_orders: Input should be greater than or equal to 1",
        ),
        (
            "max_open_orders = 3",
            "max_open_orders = 3\nmax_leverage = 2",
            "line 14: live_limits.max_leverage: is not a session file key",
        ),
        ('max_daily_notional = "1000.50"', 'max_daily_notional = "lots"', "line 11: live_limits.max_daily_notional"),
    ],
)
def test_a_bad_live_limit_names_its_key_and_line(line: str, replacement: str, message: str) -> None:
    with pytest.raises(SessionFileError, match=re.escape(message)):
        parse_session_file(LIVE.replace(line, replacement))


def test_the_documented_live_limits_parse_once_uncommented() -> None:
    text = EXAMPLE.read_text()
    for key in ("[live_limits]", "max_order_notional", "max_daily_notional", "max_daily_loss", "max_open_orders"):
        text = re.sub(rf"^# ({re.escape(key)})", r"\1", text, flags=re.MULTILINE)
    text = text.replace("live = false", "live = true").replace('source = "replay"', 'source = "coinbase"')
    session = parse_session_file(text)
    assert session.live_limits is not None
    assert session.live_limits.limits() == LiveLimits(Decimal(100), Decimal(1000), Decimal(50), 5)
