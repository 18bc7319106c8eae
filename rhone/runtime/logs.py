"""Logging for every service: one line per record, and secrets never reach a log.

Values of environment variables that hold keys or tokens are masked wherever they appear, and
so are `key=` query parameters and bearer tokens.

RHONE_LOG_FORMAT picks the line: `text` (the default, for a terminal) or `json` (one object a
line, for a log pipeline). Either way a line carries the call's ids where known: request id,
trace id, tenant and session id (rhone.observability.scope). A record may carry more fields
in `extra={"fields": {...}}` (the facade's access line does)."""

from __future__ import annotations

import logging
import os
import re
from datetime import UTC, datetime
from typing import Any

import orjson

from rhone.observability import scope, tracing

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


def call_ids() -> dict[str, str]:
    """The ids of the call the current task serves (empty values left out)."""
    current = scope.current_or_none()
    if current is None:
        return {}
    ids = {
        "request_id": current.request_id,
        "tenant": current.tenant,
        "session_id": current.session_id,
        "trace_id": current.trace_id(),
    }
    return {k: v for k, v in ids.items() if v}


class CallIds(logging.Filter):
    """Stamps each record with the ids of the call it was logged in."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.call_ids = call_ids()
        return True


class TextFormatter(logging.Formatter):
    def __init__(self, service: str, redactor: SecretRedactor) -> None:
        super().__init__(f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s")
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        pairs = {**getattr(record, "fields", {}), **getattr(record, "call_ids", {})}
        if pairs:
            line += " " + " ".join(f"{k}={v}" for k, v in pairs.items() if v not in ("", None))
        return self.redactor.redact(line)


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str, redactor: SecretRedactor) -> None:
        super().__init__()
        self.service = service
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(getattr(record, "call_ids", {}))
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return self.redactor.redact(orjson.dumps(line, default=str).decode())


def log_format() -> str:
    value = os.environ.get("RHONE_LOG_FORMAT", "text").strip().lower()
    if value not in ("text", "json"):
        raise ValueError("RHONE_LOG_FORMAT must be 'text' or 'json'")
    return value


def configure_logging(service: str) -> logging.Logger:
    """Logging, and tracing with it (log lines carry trace ids): every service calls this
    first."""
    level = os.environ.get("RHONE_LOG_LEVEL", "INFO").upper()
    handler = logging.StreamHandler()
    redactor = SecretRedactor()
    formatter: logging.Formatter = (
        JsonFormatter(service, redactor)
        if log_format() == "json"
        else TextFormatter(service, redactor)
    )
    handler.setFormatter(formatter)
    handler.addFilter(redactor)
    handler.addFilter(CallIds())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    tracing.configure_tracing(service)
    return logging.getLogger(f"rhone.{service}")
