"""A call that names no session (a first call) is recorded in a new session made with its turn
(docs/architecture.md, "Continuity"): the session exists once the call has answered, and a call
that fails or is cancelled leaves none behind. Through the openai SDK and the sessions API,
on the local model (which quotes what it remembers) and the fake OpenAI upstream."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.fakes.openai_fake import FakeOpenAI
from tests.fakes.scenarios import CutMidStream, Error, Hang, Text
from tests.integration.conftest import API_KEY

USER = [{"role": "user", "content": "hello"}]


@pytest.fixture
def http(base_url: str) -> Iterator[httpx.Client]:
    headers = {"authorization": f"Bearer {API_KEY}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
        yield client


@pytest.fixture
def client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url + "/v1", api_key=API_KEY, max_retries=0)


def newest_session(http: httpx.Client) -> str:
    listed = http.get("/v1/sessions", params={"limit": 1}).json()["data"]
    return listed[0]["id"] if listed else ""


def session_of(http: httpx.Client, sid: str) -> httpx.Response:
    return http.get(f"/v1/sessions/{sid}")


def assert_no_session(http: httpx.Client, client: openai.OpenAI, sid: str) -> None:
    reply = session_of(http, sid)
    assert reply.status_code == 404 and reply.json()["error"]["code"] == "session_not_found"
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(
            model="local", messages=USER, extra_body={"rhone": {"session_id": sid}}
        )
    assert caught.value.code == "session_not_found"


def test_a_first_call_is_recorded_in_its_new_session_and_continued(
    http: httpx.Client, client: openai.OpenAI
):
    raw = client.chat.completions.with_raw_response.create(
        model="local", messages=[{"role": "user", "content": "My name is Ada."}]
    )
    first = raw.parse()
    sid = first.model_extra["rhone"]["session_id"]
    assert raw.headers["x-rhone-session-id"] == sid
    session = session_of(http, sid).json()
    assert session["version"] == 1 and session["metadata"] == {}
    assert (session["instructions"], session["default_model"], session["parent_id"]) == (
        None,
        None,
        None,
    )
    assert newest_session(http) == sid
    turns = http.get(f"/v1/sessions/{sid}/turns").json()["data"]
    assert [t["seq"] for t in turns] == [1]
    assert turns[0]["input"][0]["content"][0]["text"] == "My name is Ada."

    second = client.chat.completions.create(
        model="local",
        messages=[{"role": "user", "content": "What is my name?"}],
        extra_body={"rhone": {"session_id": sid}},
    )
    answer = second.choices[0].message.content or ""
    assert "This is user turn 2" in answer and "My name is Ada." in answer
    assert session_of(http, sid).json()["version"] == 2


def test_a_first_call_with_a_system_prompt_keeps_it_as_the_sessions_default(
    http: httpx.Client, client: openai.OpenAI
):
    stream = client.chat.completions.create(
        model="local",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hi"},
        ],
        stream=True,
    )
    chunks = list(stream)
    sid = stream.response.headers["x-rhone-session-id"]
    assert chunks and session_of(http, sid).json()["version"] == 1
    assert session_of(http, sid).json()["instructions"] == "Be brief."
    later = client.chat.completions.create(
        model="local", messages=USER, extra_body={"rhone": {"session_id": sid}}
    )
    assert 'System: "Be brief."' in (later.choices[0].message.content or "")


def test_a_failed_first_call_leaves_no_session_and_names_none(
    http: httpx.Client, client: openai.OpenAI, fake_openai: FakeOpenAI
):
    before = newest_session(http)
    fake_openai.script(Error(400, message="bad request"))
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="gpt-4o", messages=USER)  # type: ignore[arg-type]
    assert "x-rhone-session-id" not in caught.value.response.headers
    assert newest_session(http) == before


def test_a_first_stream_cut_mid_way_leaves_no_session(
    http: httpx.Client, client: openai.OpenAI, fake_openai: FakeOpenAI
):
    before = newest_session(http)
    fake_openai.script(CutMidStream(after_chunks=1, then=Text(chunks=["partial", " never"])))
    stream = client.chat.completions.create(model="gpt-4o", messages=USER, stream=True)  # type: ignore[arg-type]
    # The id was announced with the stream's head, before the call could commit anything.
    sid = stream.response.headers["x-rhone-session-id"]
    with pytest.raises(openai.APIError):
        list(stream)
    assert_no_session(http, client, sid)
    assert newest_session(http) == before


def test_a_cancelled_first_stream_leaves_no_session(
    http: httpx.Client, client: openai.OpenAI, fake_openai: FakeOpenAI
):
    before = newest_session(http)
    fake_openai.script(Hang())
    stream = client.chat.completions.create(model="gpt-4o", messages=USER, stream=True)  # type: ignore[arg-type]
    next(iter(stream))  # open end to end
    sid = stream.response.headers["x-rhone-session-id"]
    # Mid-stream the id names nothing yet: a call naming it is 404, not 409 session_busy.
    assert_no_session(http, client, sid)
    stream.close()
    assert fake_openai.disconnected.wait(10), "the upstream never saw the client leave"
    assert_no_session(http, client, sid)
    assert newest_session(http) == before
