"""Logging for every service: one line per record, and secrets never reach a log.

Values of environment variables that hold keys or tokens are masked wherever they appear, and
so are `key=` query parameters and bearer tokens."""

from __future__ import annotations

import logging
import os
import re

_SECRET_ENV = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|CREDENTIALS)", re.IGNORECASE)
_INLINE_SECRETS = re.compile(
    r"((?:[?&]key=)|(?:Bearer\s+)|(?:x-api-key:\s*)|(?:x-goog-api-key:\s*))[^\s&\"',]+",
    re.IGNORECASE,
)


class SecretRedactor(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self._secrets = sorted(
            (v for k, v in os.environ.items() if _SECRET_ENV.search(k) and len(v) >= 8),
            key=len,
            reverse=True,
        )

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return _INLINE_SECRETS.sub(r"\1***", text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def configure_logging(service: str) -> logging.Logger:
    level = os.environ.get("RHONE_LOG_LEVEL", "INFO").upper()
    handler = logging.StreamHandler()
    handler.setFormatter(
        logging.Formatter(f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s")
    )
    handler.addFilter(SecretRedactor())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    return logging.getLogger(f"rhone.{service}")
