"""Logging set-up, with a filter that masks every registered secret in every log line."""

from __future__ import annotations

import logging

_SECRETS: set[str] = set()
MASK = "***"


def register_secret(secret: str) -> None:
    """Mask `secret` (and each of its lines, for PEM keys) wherever it would appear in a log line."""
    for part in (secret, *secret.splitlines()):
        part = part.strip()
        if len(part) >= 8 and not part.startswith("-----"):
            _SECRETS.add(part)


def mask_secrets(text: str) -> str:
    for secret in _SECRETS:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


class SecretMaskFilter(logging.Filter):
    """Rewrites each record's final message with secrets masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_secrets(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def configure_logging(level: str = "WARNING") -> None:
    handler = logging.StreamHandler()
    handler.addFilter(SecretMaskFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("gpt_trader")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
