"""Bad input at every HTTP route, on SQLite and on the real PostgreSQL: ids that cannot be
Rhone ids (a NUL, unicode, 10 k and 1 M characters), malformed cursors and JSON nested
hundreds of levels are answered in the surface's shape with a 4xx, never a 5xx, and no error
body names an exception, a module, a driver or a gRPC detail.

Hypothesis picks the route, the id and where the deep JSON goes; each example is a real HTTP
request to a cluster of the four processes."""

from __future__ import annotations

import base64
import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rhone.launcher import Cluster, Ports
from tests.integration.conftest import API_KEY
from tests.store.conftest import postgres_url

HEADERS = {"authorization": f"Bearer {API_KEY}", "anthropic-version": "2023-06-01"}

# What no error body may carry: exception and driver names, module paths, gRPC internals.
LEAKS = re.compile(
    r"Traceback|Exception\b|(?-i:\b[A-Z][A-Za-z]*Error\b)|<class|asyncpg|sqlite3?\b|psycopg"
    r"|\bgrpc|StatusCode|_pb2|upb_|google\.protobuf|\bservices\.\w|rhone\.v1\.|File \""
    r"|Stream removed|metadata size",
    re.IGNORECASE,
)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path_factory) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('bad-input')}/rhone.db"
    return await postgres_url()


@pytest.fixture(scope="module")
def cluster(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("bad-input-cluster")
    backend = database_url.split(":", 1)[0]
    cluster = Cluster(
        Ports.free(),
        env={
            "RHONE_API_KEY": API_KEY,
            "RHONE_DATABASE_URL": database_url,
            "RHONE_LOG_LEVEL": "INFO",
        },
        log_dir=Path(os.environ.get("RHONE_TEST_LOGS", root / "logs")) / f"bad-input-{backend}",
    )
    cluster.start()
    try:
        cluster.wait_ready(60)
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def http(cluster: Cluster) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=cluster.base_url, headers=HEADERS, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def real(http: httpx.Client) -> dict[str, str]:
    """Real ids, so that bad ids are also tried beside good ones (a real session id with a
    bad cursor, a real response id with a bad order)."""
    reply = http.post("/v1/responses", json={"model": "local", "input": "hello"})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    return {"session": body["rhone"]["session_id"], "response": body["id"]}


# --- what is sent ------------------------------------------------------------------------

ids = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=20).map(
        lambda t: "sess_" + t + "\x00"
    ),
    st.sampled_from(["\x00", "sess_\x00", "resp_\x00x", "turn_é", "✓" * 30, " ", "..", "%"]),
    st.integers(min_value=129, max_value=10_000).map(lambda n: "s" * n),
    st.just("x" * 1_000_000),
)
# Ids that fit in a URL (httpx refuses URLs over 64 KiB; the 1 M path is its own test).
path_ids = ids.filter(lambda value: len(value) <= 10_000)


# Where deep JSON goes, a placeholder replaced by the bytes of the nested value: no JSON
# library writes 1,000 levels, and no repr of it is ever made.
DEEP = "__deep__"


def nested_json(depth: int, kind: str = "object") -> bytes:
    opening, closing = (b'{"a":', b"}") if kind == "object" else (b"[", b"]")
    return opening * depth + b"1" + closing * depth


depths = st.sampled_from([30, 65, 100, 260, 600, 1000, 1100])
kinds = st.sampled_from(["object", "array"])

cursors = st.one_of(
    path_ids,
    st.builds(
        lambda raw: base64.urlsafe_b64encode(raw).decode().rstrip("="),
        st.one_of(
            st.binary(max_size=60),
            st.sampled_from(
                [
                    b"99999999999999999999999:sess_x",
                    b"1:sess_\x00",
                    b"-1:sess_x",
                    b"1:" + "é".encode(),
                    b"1:" + b"s" * 500,
                ]
            ),
        ),
    ),
)


def chat_body(**extra: Any) -> dict[str, Any]:
    return {"model": "local", "messages": [{"role": "user", "content": "hi"}], **extra}


def anthropic_body(**extra: Any) -> dict[str, Any]:
    return {"model": "local", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]} | (
        extra
    )


def gemini_body(**extra: Any) -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [{"text": "hi"}]}], **extra}


def id_requests(value: str, real: dict[str, str]) -> list[tuple[str, str, dict[str, Any] | None]]:
    """(method, path, body) for every place an id goes."""
    p = quote(value, safe="")
    session = real["session"]
    return [
        ("GET", f"/v1/responses/{p}", None),
        ("DELETE", f"/v1/responses/{p}", None),
        ("GET", f"/v1/responses/{p}/input_items", None),
        ("GET", f"/v1/responses/{real['response']}/input_items?order={p}", None),
        ("GET", f"/v1/sessions/{p}", None),
        ("PATCH", f"/v1/sessions/{p}", {"metadata": {"k": "v"}}),
        ("DELETE", f"/v1/sessions/{p}", None),
        ("GET", f"/v1/sessions/{p}/turns", None),
        ("POST", f"/v1/sessions/{p}:branch", {}),
        ("POST", f"/v1/sessions/{session}:branch", {"at_turn": value}),
        ("GET", f"/v1/sessions?limit={p}", None),
        ("POST", "/v1/sessions", {"default_model": value, "instructions": value}),
        ("POST", "/v1/sessions", {"metadata": {value: value}}),
        ("PATCH", f"/v1/sessions/{session}", {"default_model": value, "metadata": {"k": value}}),
        (
            "POST",
            "/v1/chat/completions",
            {"model": value, "messages": [{"role": "user", "content": value}]},
        ),
        ("POST", "/v1/chat/completions", chat_body(rhone={"session_id": value})),
        ("POST", "/v1/chat/completions", chat_body(rhone={"session_id": value}, stream=True)),
        ("POST", "/v1/responses", {"model": "local", "input": "hi", "previous_response_id": value}),
        (
            "POST",
            "/v1/responses",
            {"model": "local", "input": "hi", "rhone": {"session_id": value}},
        ),
        ("POST", "/v1/messages", anthropic_body(rhone={"session_id": value})),
        ("POST", "/v1/messages/count_tokens", anthropic_body(rhone={"session_id": value})),
        ("POST", f"/v1beta/models/{p}:generateContent", gemini_body()),
        ("POST", "/v1beta/models/local:generateContent", gemini_body(rhone={"session_id": value})),
        ("POST", f"/v1/publishers/google/models/{p}:streamGenerateContent", gemini_body()),
        (
            "POST",
            f"/v1beta1/projects/{p}/locations/{p}/publishers/google/models/local:countTokens",
            gemini_body(),
        ),
        ("GET", f"/v1/models/{p}", None),
    ]


def deep_requests() -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, body) for every place a client's JSON may nest (at DEEP)."""
    deep = DEEP
    schema = {"type": "object", "properties": {"x": deep}}
    return [
        ("POST", "/v1/chat/completions", chat_body(metadata={"k": deep})),
        (
            "POST",
            "/v1/chat/completions",
            chat_body(
                tools=[{"type": "function", "function": {"name": "f", "parameters": schema}}]
            ),
        ),
        ("POST", "/v1/chat/completions", chat_body(unknown_field=deep)),
        ("POST", "/v1/chat/completions", chat_body(response_format=deep)),
        ("POST", "/v1/responses", {"model": "local", "input": "hi", "metadata": deep}),
        (
            "POST",
            "/v1/responses",
            {
                "model": "local",
                "input": "hi",
                "tools": [{"type": "function", "name": "f", "parameters": schema}],
            },
        ),
        ("POST", "/v1/responses", {"model": "local", "input": [deep]}),
        ("POST", "/v1/messages", anthropic_body(tools=[{"name": "f", "input_schema": schema}])),
        ("POST", "/v1/messages", anthropic_body(metadata=deep)),
        (
            "POST",
            "/v1/messages/count_tokens",
            anthropic_body(tools=[{"name": "f", "input_schema": schema}]),
        ),
        (
            "POST",
            "/v1beta/models/local:generateContent",
            gemini_body(tools=[{"functionDeclarations": [{"name": "f", "parameters": schema}]}]),
        ),
        ("POST", "/v1beta/models/local:generateContent", gemini_body(generationConfig=deep)),
        ("POST", "/v1beta/models/local:countTokens", gemini_body(contents=[deep])),
        ("POST", "/v1/sessions", {"metadata": {"k": deep}}),
        ("POST", "/v1/sessions", {"metadata": deep}),
    ]


def send(
    http: httpx.Client, method: str, path: str, body: Any, deep: bytes = b"1"
) -> httpx.Response:
    content = None
    if body is not None:
        content = orjson.dumps(body).replace(orjson.dumps(DEEP), deep)
    headers = {"content-type": "application/json"} if content is not None else {}
    return http.request(method, path, content=content, headers=headers)


def assert_clean(reply: httpx.Response, what: str, sent: str = "") -> None:
    """No server error, and no internals in an error body. A success carries the client's
    own data (a session's metadata may say anything); an error may quote what was sent."""
    text = reply.text
    assert reply.status_code < 500, f"{what}: {reply.status_code} {text[:500]}"
    if reply.status_code < 400:
        return
    leak = LEAKS.search(text.replace(sent, "") if sent else text)
    assert leak is None, f"{what}: body names {leak.group()!r}: {text[:500]}"


# --- the tests ---------------------------------------------------------------------------

PROPERTY = settings(
    max_examples=int(os.environ.get("RHONE_BAD_INPUT_EXAMPLES", "100")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=False,
)


@PROPERTY
@given(value=path_ids, pick=st.integers(min_value=0))
def test_no_id_is_a_server_error(http: httpx.Client, real: dict[str, str], value: str, pick: int):
    requests = id_requests(value, real)
    method, path, body = requests[pick % len(requests)]
    assert_clean(send(http, method, path, body), f"{method} {path[:80]}", sent=value)


@PROPERTY
@given(
    value=st.builds(
        lambda n, tail: "s" * n + tail,
        st.sampled_from([10_001, 100_000, 1_000_000]),
        st.sampled_from(["", "\x00", "é"]),
    ),
    pick=st.integers(min_value=0),
)
def test_no_huge_id_in_a_body_is_a_server_error(
    http: httpx.Client, real: dict[str, str], value: str, pick: int
):
    requests = [r for r in id_requests(value, real) if len(r[1]) < 1000]
    method, path, body = requests[pick % len(requests)]
    assert_clean(send(http, method, path, body), f"{method} {path[:80]}", sent=value)


@PROPERTY
@given(key=path_ids.filter(lambda k: k.strip() != API_KEY))
def test_no_api_key_is_a_server_error(cluster: Cluster, key: str):
    """A key is looked up by its hash; one that cannot be a key never reaches the database."""
    with httpx.Client(base_url=cluster.base_url, timeout=60) as client:
        reply = client.get(f"/v1/sessions?key={quote(key, safe='')}")
    assert_clean(reply, "GET /v1/sessions?key=...")
    assert reply.status_code == 401


@PROPERTY
@given(cursor=cursors, limit=st.sampled_from(["", "1", "100", "0", "101", "x", "\x00"]))
def test_no_cursor_is_a_server_error(http: httpx.Client, cursor: str, limit: str):
    query = f"?after={quote(cursor, safe='')}" + (f"&limit={quote(limit)}" if limit else "")
    reply = send(http, "GET", "/v1/sessions" + query, None)
    assert_clean(reply, "GET /v1/sessions" + query[:80])
    if cursor and reply.status_code == 400:
        assert reply.json()["error"]["param"] in ("after", "limit")


@PROPERTY
@given(depth=depths, kind=kinds, pick=st.integers(min_value=0))
def test_no_nesting_is_a_server_error(http: httpx.Client, depth: int, kind: str, pick: int):
    requests = deep_requests()
    method, path, body = requests[pick % len(requests)]
    reply = send(http, method, path, body, nested_json(depth, kind))
    assert_clean(reply, f"{method} {path} #{pick % len(requests)} at depth {depth}")


@pytest.mark.parametrize("index", range(len(deep_requests())))
def test_json_nested_hundreds_of_levels_is_a_400_naming_the_field(http: httpx.Client, index: int):
    method, path, body = deep_requests()[index]
    reply = send(http, method, path, body, nested_json(300))
    assert reply.status_code == 400, reply.text
    assert "nested too deeply" in reply.text, reply.text


def test_a_nul_in_a_path_id_is_a_404_in_the_surface_shape(http: httpx.Client):
    reply = http.get("/v1/responses/resp_%00abc")
    assert reply.status_code == 404
    assert reply.json()["error"]["code"] == "response_not_found"
    reply = http.get("/v1/sessions/sess_%00abc/turns")
    assert reply.status_code == 404
    assert reply.json()["error"]["code"] == "session_not_found"


def test_a_megabyte_path_is_refused_without_a_server_error(cluster: Cluster):
    """A path of 1 M characters: too long for any HTTP client library, so sent by hand."""
    request = (
        f"GET /v1/sessions/{'x' * 1_000_000} HTTP/1.1\r\n"
        f"host: 127.0.0.1\r\nauthorization: Bearer {API_KEY}\r\nconnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", cluster.ports.facade), timeout=30) as sock:
        try:
            sock.sendall(request)
            answer = sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            answer = b""  # refused by closing: no answer, and no 5xx either
    status_line = answer.split(b"\r\n", 1)[0]
    if status_line:
        status = int(status_line.split()[1])
        assert status < 500, answer[:300]
