"""The native sessions API over HTTP (httpx), with chat turns made by the official openai SDK
on the local model, which quotes what it remembers: 'This is user turn N; your first message
was: "..."' and, when a system prompt is set, ' System: "<text>".'."""

from __future__ import annotations

import datetime
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import openai
import pytest

from tests.integration.conftest import API_KEY, OTHER_KEY

SESSION_KEYS = {
    "context",
    "id",
    "object",
    "created_at",
    "updated_at",
    "version",
    "metadata",
    "instructions",
    "default_model",
    "parent_id",
    "parent_turn_id",
}


@pytest.fixture
def http(base_url: str) -> Iterator[httpx.Client]:
    headers = {"authorization": f"Bearer {API_KEY}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
        yield client


@pytest.fixture
def other(base_url: str) -> Iterator[httpx.Client]:
    headers = {"authorization": f"Bearer {OTHER_KEY}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
        yield client


@pytest.fixture
def client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url + "/v1", api_key=API_KEY, max_retries=0)


def chat(client: openai.OpenAI, session_id: str, text: str) -> str:
    completion = client.chat.completions.create(
        model="local",
        messages=[{"role": "user", "content": text}],
        extra_body={"rhone": {"session_id": session_id}},
    )
    assert completion.model_extra["rhone"]["session_id"] == session_id
    return completion.choices[0].message.content or ""


def create(http: httpx.Client, **body: Any) -> dict[str, Any]:
    reply = http.post("/v1/sessions", json=body)
    assert reply.status_code == 201, reply.text
    return reply.json()


def error_of(reply: httpx.Response) -> dict[str, Any]:
    return reply.json()["error"]


def test_create_answers_the_session_with_every_field(http: httpx.Client):
    before = int(time.time())
    session = create(
        http, metadata={"team": "search", "n": 3}, instructions="Be brief.", default_model="local"
    )
    assert set(session) == SESSION_KEYS
    assert session["id"].startswith("sess_") and session["object"] == "session"
    assert before <= session["created_at"] <= time.time() and session["version"] == 0
    assert session["metadata"] == {"team": "search", "n": 3}
    assert (session["instructions"], session["default_model"]) == ("Be brief.", "local")
    assert (session["parent_id"], session["parent_turn_id"]) == (None, None)
    assert http.get(f"/v1/sessions/{session['id']}").json() == session


def test_create_without_a_body_makes_an_empty_session(http: httpx.Client):
    reply = http.post("/v1/sessions")
    assert reply.status_code == 201
    session = reply.json()
    assert (session["metadata"], session["instructions"], session["default_model"]) == (
        {},
        None,
        None,
    )


def test_list_is_newest_first_and_pages_with_the_cursor(http: httpx.Client):
    # Back to back: sessions made in the same millisecond list newest first all the same.
    made = [create(http)["id"] for _ in range(3)]
    first = http.get("/v1/sessions", params={"limit": 2}).json()
    assert first["object"] == "list" and first["has_more"] is True
    assert [s["id"] for s in first["data"]] == made[:0:-1]
    second = http.get("/v1/sessions", params={"limit": 1, "after": first["next_cursor"]}).json()
    assert [s["id"] for s in second["data"]] == made[:1]
    whole = http.get("/v1/sessions", params={"limit": 3}).json()
    assert [s["id"] for s in whole["data"]] == made[::-1]


def test_walking_every_page_ends_on_a_page_without_a_cursor(other: httpx.Client):
    mine = {other.post("/v1/sessions").json()["id"] for _ in range(3)}
    seen: list[str] = []
    page = other.get("/v1/sessions", params={"limit": 2}).json()
    while True:
        seen += [s["id"] for s in page["data"]]
        if not page["has_more"]:
            break
        page = other.get("/v1/sessions", params={"limit": 2, "after": page["next_cursor"]}).json()
    assert page["next_cursor"] is None
    assert len(seen) == len(set(seen)) and mine <= set(seen)


def test_turns_show_the_chat_history_as_readable_json(http: httpx.Client, client):
    """Roles and part types in lower case as in the public APIs, numbers as numbers, times as
    RFC 3339: not the proto's JSON mapping ("ROLE_USER", "seq": "1")."""
    sid = create(http)["id"]
    chat(client, sid, "My name is Ada.")
    chat(client, sid, "What is my name?")
    turns = http.get(f"/v1/sessions/{sid}/turns").json()
    assert turns["object"] == "list"
    data = turns["data"]
    assert [t["seq"] for t in data] == [1, 2]
    assert {t["session_id"] for t in data} == {sid}
    assert [t["input"] for t in data] == [
        [{"role": "user", "content": [{"type": "text", "text": "My name is Ada."}]}],
        [{"role": "user", "content": [{"type": "text", "text": "What is my name?"}]}],
    ]
    output = data[1]["output"]
    assert output["role"] == "assistant" and output["content"][0]["type"] == "text"
    assert output["content"][0]["text"].endswith(
        'This is user turn 2; your first message was: "My name is Ada.".'
    )
    first = data[0]
    assert first["object"] == "session.turn" and first["id"].startswith("turn_")
    assert (first["model"], first["status"], first["finish_reason"]) == (
        "local",
        "completed",
        "stop",
    )
    assert first["snapshot"] is False and isinstance(first["response_id"], str)
    usage = first["usage"]
    assert isinstance(usage["input_tokens"], int) and usage["output_tokens"] > 0
    assert isinstance(first["duration_ms"], int)
    created = datetime.datetime.fromisoformat(first["created_at"])
    assert created.tzinfo is not None
    assert abs(created.timestamp() - http.get(f"/v1/sessions/{sid}").json()["created_at"]) < 60
    assert http.get(f"/v1/sessions/{sid}").json()["version"] == 2


def test_patch_changes_only_what_it_names_and_instructions_reach_the_model(
    http: httpx.Client, client
):
    sid = create(http, metadata={"a": 1})["id"]
    chat(client, sid, "hello")
    patched = http.patch(f"/v1/sessions/{sid}", json={"instructions": "Speak like a pirate."})
    assert patched.status_code == 200
    assert patched.json()["instructions"] == "Speak like a pirate."
    assert patched.json()["metadata"] == {"a": 1}
    answer = chat(client, sid, "ahoy")
    assert answer.endswith(
        'This is user turn 2; your first message was: "hello". System: "Speak like a pirate.".'
    )
    relabelled = http.patch(f"/v1/sessions/{sid}", json={"metadata": {"b": 2}}).json()
    assert (relabelled["metadata"], relabelled["instructions"]) == (
        {"b": 2},
        "Speak like a pirate.",
    )
    cleared = http.patch(
        f"/v1/sessions/{sid}", json={"instructions": None, "default_model": "local"}
    ).json()
    assert (cleared["instructions"], cleared["default_model"]) == (None, "local")
    assert "System:" not in chat(client, sid, "plain again")


def test_delete_forgets_the_session_everywhere(http: httpx.Client, client):
    sid = create(http)["id"]
    chat(client, sid, "remember me")
    deleted = http.delete(f"/v1/sessions/{sid}")
    assert deleted.status_code == 200
    assert deleted.json() == {"id": sid, "object": "session.deleted", "deleted": True}
    for reply in (
        http.get(f"/v1/sessions/{sid}"),
        http.get(f"/v1/sessions/{sid}/turns"),
        http.patch(f"/v1/sessions/{sid}", json={"metadata": {}}),
        http.post(f"/v1/sessions/{sid}:branch"),
        http.delete(f"/v1/sessions/{sid}"),
    ):
        assert reply.status_code == 404, reply.request.url
        assert error_of(reply)["code"] == "session_not_found"
    with pytest.raises(openai.NotFoundError):
        chat(client, sid, "are you there?")
    assert sid not in [s["id"] for s in http.get("/v1/sessions").json()["data"]]


def test_a_branch_remembers_only_up_to_its_branch_point(http: httpx.Client, client):
    sid = create(http, metadata={"k": "v"})["id"]
    for text in ("Alpha", "Beta", "Gamma"):
        chat(client, sid, text)
    first_turn = http.get(f"/v1/sessions/{sid}/turns").json()["data"][0]["id"]
    reply = http.post(f"/v1/sessions/{sid}:branch", json={"at_turn": first_turn})
    assert reply.status_code == 201
    branch = reply.json()
    assert set(branch) == SESSION_KEYS and branch["id"] != sid
    assert (branch["parent_id"], branch["parent_turn_id"]) == (sid, first_turn)
    assert (branch["version"], branch["metadata"]) == (1, {"k": "v"})
    assert chat(client, branch["id"], "Delta") == (
        'You said: "Delta". This is user turn 2; your first message was: "Alpha".'
    )
    branch_turns = http.get(f"/v1/sessions/{branch['id']}/turns").json()["data"]
    assert [t["input"][0]["content"][0]["text"] for t in branch_turns] == ["Alpha", "Delta"]
    # The parent goes on as it was.
    assert "This is user turn 4;" in chat(client, sid, "Epsilon")


def test_a_branch_without_a_turn_copies_the_whole_history(http: httpx.Client, client):
    sid = create(http)["id"]
    chat(client, sid, "one")
    chat(client, sid, "two")
    branch = http.post(f"/v1/sessions/{sid}:branch").json()
    latest = http.get(f"/v1/sessions/{sid}/turns").json()["data"][-1]["id"]
    assert (branch["version"], branch["parent_turn_id"]) == (2, latest)
    assert 'This is user turn 3; your first message was: "one"' in chat(
        client, branch["id"], "three"
    )


def test_another_tenant_gets_404_on_every_route(http: httpx.Client, other: httpx.Client, client):
    sid = create(http, metadata={"secret": True})["id"]
    chat(client, sid, "private")
    for reply in (
        other.get(f"/v1/sessions/{sid}"),
        other.get(f"/v1/sessions/{sid}/turns"),
        other.patch(f"/v1/sessions/{sid}", json={"metadata": {"owned": True}}),
        other.post(f"/v1/sessions/{sid}:branch"),
        other.delete(f"/v1/sessions/{sid}"),
    ):
        assert reply.status_code == 404, reply.request.url
        assert error_of(reply)["code"] == "session_not_found"
        assert "private" not in reply.text
    assert sid not in [s["id"] for s in other.get("/v1/sessions").json()["data"]]
    mine = http.get(f"/v1/sessions/{sid}").json()
    assert mine["metadata"] == {"secret": True} and mine["version"] == 1


@pytest.mark.parametrize(
    ("method", "path", "body", "param"),
    [
        ("POST", "/v1/sessions", {"metadata": "x"}, "metadata"),
        ("POST", "/v1/sessions", {"instructions": 5}, "instructions"),
        ("POST", "/v1/sessions", {"default_model": ["a"]}, "default_model"),
        ("POST", "/v1/sessions", {"colour": "red"}, "colour"),
        ("PATCH", "/v1/sessions/{sid}", {"metadata": [1]}, "metadata"),
        ("PATCH", "/v1/sessions/{sid}", {"version": 9}, "version"),
        ("POST", "/v1/sessions/{sid}:branch", {"at_turn": 3}, "at_turn"),
        ("GET", "/v1/sessions?limit=0", None, "limit"),
        ("GET", "/v1/sessions?limit=abc", None, "limit"),
        ("GET", "/v1/sessions?after=not-a-cursor", None, "after"),
    ],
    ids=[
        "metadata_not_object",
        "instructions_not_string",
        "default_model_not_string",
        "unknown_create_field",
        "patch_metadata_not_object",
        "patch_unknown_field",
        "at_turn_not_string",
        "limit_zero",
        "limit_not_a_number",
        "foreign_cursor",
    ],
)
def test_bad_requests_are_400_naming_the_field(
    http: httpx.Client, method: str, path: str, body: Any, param: str
):
    sid = create(http)["id"]
    reply = http.request(method, path.format(sid=sid), json=body)
    assert reply.status_code == 400, reply.text
    error = error_of(reply)
    assert (error["type"], error["param"]) == ("invalid_request_error", param)
    assert param in error["message"] or error["code"] == "invalid_cursor"


def test_invalid_json_is_400(http: httpx.Client):
    reply = http.post(
        "/v1/sessions", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert reply.status_code == 400
    assert "not valid JSON" in error_of(reply)["message"]


def test_branch_at_an_unknown_turn_is_404_naming_at_turn(http: httpx.Client):
    sid = create(http)["id"]
    reply = http.post(f"/v1/sessions/{sid}:branch", json={"at_turn": "turn_nope"})
    assert reply.status_code == 404
    assert (error_of(reply)["code"], error_of(reply)["param"]) == ("turn_not_found", "at_turn")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/sessions"),
        ("GET", "/v1/sessions"),
        ("GET", "/v1/sessions/sess_x"),
        ("PATCH", "/v1/sessions/sess_x"),
        ("DELETE", "/v1/sessions/sess_x"),
        ("GET", "/v1/sessions/sess_x/turns"),
        ("POST", "/v1/sessions/sess_x:branch"),
    ],
)
def test_every_route_needs_a_key(base_url: str, method: str, path: str):
    reply = httpx.request(method, base_url + path, headers={"authorization": "Bearer wrong"})
    assert reply.status_code == 401
    assert error_of(reply)["type"] == "authentication_error"


def test_concurrent_calls_on_one_session_answer_or_409_and_lose_no_turn(
    http: httpx.Client, base_url: str
):
    sid = create(http)["id"]
    calls = 8
    clients = [
        openai.OpenAI(base_url=base_url + "/v1", api_key=API_KEY, max_retries=0)
        for _ in range(calls)
    ]
    start = threading.Barrier(calls)

    def call(i: int) -> str:
        start.wait()
        try:
            chat(clients[i], sid, f"call {i}")
        except openai.ConflictError as exc:
            assert exc.code == "session_busy"
            return "busy"
        return "answered"

    with ThreadPoolExecutor(calls) as pool:
        outcomes = list(pool.map(call, range(calls)))
    assert "answered" in outcomes
    turns = http.get(f"/v1/sessions/{sid}/turns").json()["data"]
    assert [t["seq"] for t in turns] == list(range(1, outcomes.count("answered") + 1))
