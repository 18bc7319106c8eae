"""Vertex project-mode tokens from a service-account key file (GOOGLE_APPLICATION_CREDENTIALS):
loaded and refreshed off the event loop, once for many concurrent callers, against a local
token endpoint that stands in for Google's."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from rhone.errors import RhoneError
from services.providers.connectors.vertex_auth import VertexTokens


class TokenEndpoint(BaseHTTPRequestHandler):
    grants = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        type(self).grants += 1
        body = json.dumps({"access_token": f"ya29.token-{self.grants}", "expires_in": 3600})
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def token_uri() -> Iterator[str]:
    TokenEndpoint.grants = 0
    server = HTTPServer(("127.0.0.1", 0), TokenEndpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/token"
    server.shutdown()


@pytest.fixture
def key_file(tmp_path: Path, token_uri: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    path = tmp_path / "service-account.json"
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "rhone-test",
                "private_key_id": "k1",
                "private_key": pem,
                "client_email": "rhone@rhone-test.iam.gserviceaccount.com",
                "client_id": "1",
                "token_uri": token_uri,
            }
        )
    )
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    return path


async def test_concurrent_callers_share_one_token_refresh(key_file: Path):
    tokens = VertexTokens()
    headers = await asyncio.gather(*(tokens.headers() for _ in range(5)))
    assert {h["authorization"] for h in headers} == {"Bearer ya29.token-1"}
    assert TokenEndpoint.grants == 1
    assert (await tokens.headers())["authorization"] == "Bearer ya29.token-1"


async def test_a_static_token_is_used_as_given():
    assert await VertexTokens("ya29.static").headers() == {"authorization": "Bearer ya29.static"}


async def test_missing_credentials_are_a_clear_401(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    with pytest.raises(RhoneError) as caught:
        await VertexTokens().headers()
    assert caught.value.failure.http_status == 401
    assert "GOOGLE_APPLICATION_CREDENTIALS" in caught.value.failure.message
