"""Keys at rest: a keyed hash (HMAC-SHA256 with the server's secret), never the secret.

Without the server's secret, a copy of the database cannot be used to check a guessed key.
The secret comes from RHONE_KEY_HMAC_SECRET (`make run` generates one and keeps it in
./.rhone/); an install that sets none gets one generated once and kept in the database, so
replicas sharing the database agree (weaker: the database alone then suffices; the log says
so at start). Changing the secret makes every key unknown."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets

from services.sessions.backends.base import Database

log = logging.getLogger("rhone.sessions.keys")

SECRET_PREFIX = "rhone_sk_"
# The visible part of a key: its prefix and the first characters of the random part.
VISIBLE_CHARS = len(SECRET_PREFIX) + 6


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def visible_prefix(secret: str) -> str:
    return secret[:VISIBLE_CHARS]


def legacy_hash(secret: str) -> str:
    """How keys were stored before migration 0013 (unsalted SHA-256)."""
    return hashlib.sha256(secret.encode()).hexdigest()


class KeyHasher:
    def __init__(self, server_secret: str) -> None:
        self._key = server_secret.encode()

    def hash(self, secret: str) -> str:
        return hmac.new(self._key, secret.encode(), hashlib.sha256).hexdigest()


async def server_secret(db: Database, configured: str) -> str:
    """The configured secret, else the one kept in the database (generated on first use)."""
    if configured:
        return configured
    log.warning(
        "RHONE_KEY_HMAC_SECRET is not set: keys are hashed with a secret kept in the database. "
        "Set it (and keep it outside the database) in production."
    )
    candidate = secrets.token_urlsafe(32)
    await db.execute(
        "INSERT INTO server_secrets (name, value) VALUES ('key_hmac', ?) "
        "ON CONFLICT (name) DO NOTHING",
        candidate,
    )
    row = await db.fetchone("SELECT value FROM server_secrets WHERE name = 'key_hmac'")
    assert row is not None
    return str(row["value"])
