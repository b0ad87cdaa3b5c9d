"""Coinbase's error bodies, JSON and plain text, become typed errors with a readable message."""

from __future__ import annotations

import json

from gpt_trader.coinbase.errors import CoinbaseError, CoinbaseUnavailable
from gpt_trader.errors import UserError


def test_a_json_error_body_keeps_code_message_and_details() -> None:
    body = json.dumps(
        {
            "error": "PERMISSION_DENIED",
            "message": "permission denied",
            "error_details": "Missing required scopes",
        }
    )
    error = CoinbaseError.from_response(403, "Forbidden", body, request="GET /api/v3/brokerage/accounts")
    assert (error.status, error.code, error.message, error.details) == (
        403, "PERMISSION_DENIED", "permission denied", "Missing required scopes"
    )
    assert isinstance(error, UserError)
    assert str(error) == (
        "Coinbase answered 403 PERMISSION_DENIED to GET /api/v3/brokerage/accounts: "
        "permission denied (Missing required scopes)"
    )


def test_a_plain_text_body_uses_the_reason_as_code() -> None:
    error = CoinbaseError.from_response(401, "Unauthorized", "Unauthorized\n")
    assert (error.status, error.code, error.message) == (401, "UNAUTHORIZED", "Unauthorized")
    assert error.details == ""
    assert str(error) == "Coinbase answered 401 UNAUTHORIZED: Unauthorized"


def test_details_only_and_empty_bodies_still_say_something() -> None:
    body = '{"error": "INVALID_ARGUMENT", "error_details": "x"}'
    only_details = CoinbaseError.from_response(400, "Bad Request", body)
    assert only_details.message == "x" and str(only_details).endswith(": x")
    empty = CoinbaseError.from_response(502, "Bad Gateway", "")
    assert (empty.code, empty.message) == ("BAD_GATEWAY", "Bad Gateway")


def test_with_note_keeps_everything_and_adds_the_note() -> None:
    error = CoinbaseError(500, "INTERNAL", "boom", "d", request="GET /x")
    error = error.with_note("gave up after 4 attempts")
    assert (error.status, error.code, error.details, error.request) == (500, "INTERNAL", "d", "GET /x")
    assert str(error).endswith("boom; gave up after 4 attempts (d)")


def test_unavailable_suggests_every_offline_source() -> None:
    url = "https://api.coinbase.com/api/v3/brokerage"
    error = CoinbaseUnavailable(url, "[Errno -3] name resolution failed")
    text = str(error)
    assert "https://api.coinbase.com/api/v3/brokerage" in text and "name resolution" in text
    for hint in ("--source synthetic", "--source file:PATH", "gpt-trader data import"):
        assert hint in text
