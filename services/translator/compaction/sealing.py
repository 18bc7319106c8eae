"""The opaque content of a compaction item.

A compaction item goes to the client and comes back in a later request, so what it carries must
be unreadable and unforgeable outside Rhone, and useless to any other tenant: the summary is
sealed with AES-256-GCM under a key derived from the deployment's secret
(`RHONE_COMPACTION_SECRET`), with the tenant id as associated data. Opening it under another
tenant, or after any change to a single byte, fails, and the caller gets a 400.

The cipher is made when the first item is sealed or opened: cryptography's bindings are ~9 MiB
of a translator's resident memory, which one that never compacts need not hold
(docs/performance.md#memory)."""

from __future__ import annotations

import base64
import binascii
import logging
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import orjson

from rhone.errors import RhoneError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

log = logging.getLogger("rhone.translator.compaction")

# The format's version: a later format gets a prefix of its own, and old items still open.
PREFIX = "rhc1."
_NONCE_BYTES = 12
_ASSOCIATED = b"rhone.compaction.v1\x00"
INVALID_DETAIL = "invalid_encrypted_content"


@dataclass(frozen=True, slots=True)
class Summary:
    """What a compaction item holds: the summary's text, the model that wrote it, and when."""

    text: str
    model: str = ""
    created_at: int = 0


class CompactionSeal:
    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the compaction secret must be at least 16 bytes")
        self._secret = secret
        self._cipher: AESGCM | None = None

    def _aead(self) -> AESGCM:
        if self._cipher is None:
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM
            from cryptography.hazmat.primitives.hashes import SHA256
            from cryptography.hazmat.primitives.kdf.hkdf import HKDF

            hkdf = HKDF(algorithm=SHA256(), length=32, salt=None, info=b"rhone compaction v1")
            self._cipher = AESGCM(hkdf.derive(self._secret))
        return self._cipher

    @classmethod
    def from_setting(cls, secret: str) -> CompactionSeal:
        """The configured secret; without one, a key of this process only, so that compaction
        works on one machine with no setup (items then die with the process)."""
        if secret:
            return cls(secret.encode())
        log.warning(
            "RHONE_COMPACTION_SECRET is not set: compaction items made by this translator "
            "cannot be opened by another replica or after a restart"
        )
        return cls(os.urandom(32))

    def seal(self, tenant_id: str, summary: Summary) -> str:
        plain = orjson.dumps(
            {"s": summary.text, "m": summary.model, "t": summary.created_at or int(time.time())}
        )
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead().encrypt(nonce, plain, _ASSOCIATED + tenant_id.encode())
        return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")

    def open(self, tenant_id: str, encrypted_content: str, *, param: str = "input") -> Summary:
        """The summary, or a 400 when the content was not sealed for this tenant by this
        deployment (or was changed)."""
        if not encrypted_content.startswith(PREFIX):
            raise _invalid(param)
        body = encrypted_content.removeprefix(PREFIX)
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            if len(raw) <= _NONCE_BYTES:
                raise _invalid(param)
            plain = self._decrypt(raw, tenant_id)
            fields = orjson.loads(plain)
        except (binascii.Error, ValueError):
            raise _invalid(param) from None
        if not isinstance(fields, dict) or not isinstance(fields.get("s"), str):
            raise _invalid(param)
        return Summary(
            text=fields["s"], model=str(fields.get("m") or ""), created_at=int(fields.get("t", 0))
        )

    def _decrypt(self, raw: bytes, tenant_id: str) -> bytes:
        """The plain text of nonce + sealed bytes; ValueError when it does not verify."""
        from cryptography.exceptions import InvalidTag

        try:
            return self._aead().decrypt(
                raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _ASSOCIATED + tenant_id.encode()
            )
        except InvalidTag:
            raise ValueError("the compaction item does not verify") from None


def _invalid(param: str) -> RhoneError:
    return RhoneError.invalid(
        "The encrypted content of the compaction item could not be verified: it was not made "
        "by this Rhone deployment for this API key's tenant, or it was changed.",
        param=param,
        detail=INVALID_DETAIL,
    )
