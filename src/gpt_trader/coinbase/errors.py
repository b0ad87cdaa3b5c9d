"""Errors from talking to Coinbase: an answer that says no, and no answer at all."""

from __future__ import annotations

import json

from gpt_trader.errors import DataError, UserError


class CoinbaseError(UserError):
    """Coinbase answered with an error status. Keeps the status, Coinbase's code, message and details.

    `code` is Coinbase's error code (`INVALID_ARGUMENT`, `NOT_FOUND`, ...) or, for a plain-text
    body such as a 401 `Unauthorized`, the HTTP reason phrase upper-cased.
    """

    def __init__(self, status: int, code: str, message: str, details: str = "", *, request: str = "") -> None:
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.request = request
        where = f" to {request}" if request else ""
        extra = f" ({details})" if details and details != message else ""
        super().__init__(f"Coinbase answered {status} {code}{where}: {message}{extra}")

    def with_note(self, note: str) -> CoinbaseError:
        """The same error with `note` appended to its message."""
        return CoinbaseError(
            self.status, self.code, f"{self.message}; {note}", self.details, request=self.request
        )

    @classmethod
    def from_response(cls, status: int, reason: str, body: str, *, request: str = "") -> CoinbaseError:
        """Read the JSON error body `{"error", "message", "error_details"}`, or a plain-text one."""
        fallback_code = reason.upper().replace(" ", "_") or f"HTTP_{status}"
        try:
            document = json.loads(body)
        except ValueError:
            document = None
        if isinstance(document, dict) and ("error" in document or "message" in document):
            code = str(document.get("error") or fallback_code)
            message = str(document.get("message") or document.get("error_details") or reason)
            return cls(status, code, message, str(document.get("error_details") or ""), request=request)
        return cls(status, fallback_code, body.strip()[:500] or reason, request=request)


OFFLINE_CANDLES_HINT = (
    "Without network access, use candles from elsewhere: `--source synthetic` (a generated market), "
    "`--source file:PATH` (a CSV or Parquet file), or load a file into the cache with `gpt-trader data import`."
)
OFFLINE_FEED_HINT = (
    "Without network access, point the feed at a local sandbox exchange: start `gpt-trader sandbox serve` "
    "and set GPT_TRADER_COINBASE_WS_URL (and GPT_TRADER_COINBASE_REST_URL) to the URLs it prints."
)


class CoinbaseUnavailable(UserError):
    """Coinbase could not be reached at all: connection refused, DNS failure, timeout."""

    def __init__(self, url: str, reason: str, hint: str = OFFLINE_CANDLES_HINT) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"Coinbase could not be reached at {url} ({reason}). {hint}")


class MalformedResponse(DataError):
    """Coinbase answered 200 with a body that does not have the documented shape."""

    def __init__(self, what: str, problem: str) -> None:
        self.what = what
        super().__init__(f"Coinbase sent a malformed {what}: {problem}")
