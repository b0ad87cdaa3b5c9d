"""Errors a user can act on. The CLI prints their message (no traceback) and exits with status 2."""

from __future__ import annotations


class UserError(Exception):
    """Something the user asked for cannot be done as asked; the message says what and how to fix it."""


class ConfigError(UserError, ValueError):
    """A setting or credential that cannot be used."""


class DataError(UserError, ValueError):
    """Market data that is missing, malformed or fails validation; names the product and the row."""
