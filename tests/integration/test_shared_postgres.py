"""Two Rhone deployments sharing one PostgreSQL continue each other's sessions.

Pair A runs sessions + translator + facade (+ the providers service both pairs use); pair B
runs its own sessions + translator + facade. Nothing is shared but the database: the two
sessions services start together on a fresh schema (migrations run once), and every lease,
turn and branch one pair writes, the other reads. The local model streams slowly here
(RHONE_LOCAL_TOKEN_DELAY_MS), so that concurrent calls really overlap."""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from rhone.launcher import Cluster, Ports, free_port
from tests.integration.conftest import API_KEY, OTHER_KEY
from tests.store.conftest import postgres_url

PAIR_A = ("sessions", "providers", "translator", "facade")
PAIR_B = ("sessions", "translator", "facade")


@pytest.fixture(scope="module")
async def database_url() -> str:
    return await postgres_url()


@pytest.fixture(scope="module")
def pairs(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Cluster, Cluster]]:
    root = tmp_path_factory.mktemp("shared-pg")
    logs = Path(os.environ.get("RHONE_TEST_LOGS", root / "logs"))
    env = {
        "RHONE_API_KEY": API_KEY,
        "RHONE_TENANT_KEYS": f"other:{OTHER_KEY}",
        "RHONE_DATABASE_URL": database_url,
        "RHONE_LOCAL_TOKEN_DELAY_MS": "5",
        "RHONE_LOG_LEVEL": "INFO",
        # One deployment: both pairs share the providers service, so one service identity.
        "RHONE_SERVICE_TOKEN": secrets.token_urlsafe(32),
    }
    providers = free_port()
    a = Cluster(
        Ports(free_port(), free_port(), free_port(), providers),
        env=env,
        log_dir=logs / "pair-a",
        only=PAIR_A,
    )
    b = Cluster(
        Ports(free_port(), free_port(), free_port(), providers),
        env=env,
        log_dir=logs / "pair-b",
        only=PAIR_B,
    )
    try:
        a.start()
        b.start()
        a.wait_ready(60)
        b.wait_ready(60)
        yield a, b
    finally:
        b.stop()
        a.stop()


def sdk(cluster: Cluster, key: str = API_KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=cluster.base_url + "/v1", api_key=key, max_retries=0)


def http(cluster: Cluster, key: str = API_KEY) -> httpx.Client:
    return httpx.Client(
        base_url=cluster.base_url, headers={"authorization": f"Bearer {key}"}, timeout=30
    )


def chat(client: openai.OpenAI, text: str, session_id: str = "") -> tuple[str, str]:
    """(answer, session id) of one chat call, continuing `session_id` when given."""
    extra = {"rhone": {"session_id": session_id}} if session_id else None
    completion = client.chat.completions.create(
        model="local", messages=[{"role": "user", "content": text}], extra_body=extra
    )
    return completion.choices[0].message.content or "", completion.model_extra["rhone"][
        "session_id"
    ]


def turns_of(cluster: Cluster, session_id: str) -> list[dict[str, Any]]:
    with http(cluster) as client:
        reply = client.get(f"/v1/sessions/{session_id}/turns")
    assert reply.status_code == 200, reply.text
    return list(reply.json()["data"])


def test_the_pairs_are_separate_deployments(pairs: tuple[Cluster, Cluster]):
    a, b = pairs
    assert a.base_url != b.base_url
    assert set(b.processes) == set(PAIR_B) and a.ports.sessions != b.ports.sessions


def test_a_session_begun_on_one_pair_continues_on_the_other(pairs: tuple[Cluster, Cluster]):
    a, b = pairs
    _, sid = chat(sdk(a), "My name is Ada.")
    answer, same = chat(sdk(b), "What is my name?", sid)
    assert same == sid
    assert answer == (
        'You said: "What is my name?". This is user turn 2; '
        'your first message was: "My name is Ada.".'
    )
    answer, _ = chat(sdk(a), "And again?", sid)
    assert "This is user turn 3;" in answer
    assert [t["seq"] for t in turns_of(b, sid)] == [1, 2, 3]


def test_the_sessions_api_of_one_pair_drives_the_calls_of_the_other(
    pairs: tuple[Cluster, Cluster],
):
    a, b = pairs
    with http(b) as api_b:
        created = api_b.post("/v1/sessions", json={"instructions": "Be terse."})
        sid = created.json()["id"]
    answer, _ = chat(sdk(a), "hello", sid)
    assert answer.endswith('System: "Be terse.".')
    with http(a) as api_a:
        api_a.patch(f"/v1/sessions/{sid}", json={"instructions": "Be kind."})
    answer, _ = chat(sdk(b), "hello again", sid)
    assert answer.endswith(
        'This is user turn 2; your first message was: "hello". System: "Be kind.".'
    )
    with http(b) as api_b:
        first = api_b.get(f"/v1/sessions/{sid}/turns").json()["data"][0]["id"]
        branch = api_b.post(f"/v1/sessions/{sid}:branch", json={"at_turn": first}).json()
    answer, _ = chat(sdk(a), "on the branch", branch["id"])
    assert 'This is user turn 2; your first message was: "hello".' in answer
    with http(a) as api_a:
        assert api_a.delete(f"/v1/sessions/{sid}").status_code == 200
    with pytest.raises(openai.NotFoundError):
        chat(sdk(b), "gone?", sid)
    with http(b, OTHER_KEY) as stranger:
        assert stranger.get(f"/v1/sessions/{branch['id']}").status_code == 404


def test_a_previous_response_id_from_one_pair_continues_on_the_other(
    pairs: tuple[Cluster, Cluster],
):
    a, b = pairs
    first = sdk(a).responses.create(model="local", input="one")
    second = sdk(b).responses.create(model="local", input="two", previous_response_id=first.id)
    assert 'This is user turn 2; your first message was: "one".' in second.output_text
    # From the older response: a branch, whichever pair serves it.
    forked = sdk(a).responses.create(model="local", input="fork", previous_response_id=first.id)
    assert 'This is user turn 2; your first message was: "one".' in forked.output_text
    assert forked.model_extra["rhone"]["session_id"] != first.model_extra["rhone"]["session_id"]


def race(clients: list[openai.OpenAI], session_id: str, label: str) -> list[str]:
    """One call per client on the session, all let go at once: each "answered" or "busy"."""
    start = threading.Barrier(len(clients))

    def call(i: int) -> str:
        start.wait()
        try:
            chat(clients[i], f"{label} call {i}", session_id)
        except openai.ConflictError as exc:
            assert exc.code == "session_busy" and exc.status_code == 409
            return "busy"
        return "answered"

    with ThreadPoolExecutor(len(clients)) as pool:
        return list(pool.map(call, range(len(clients))))


def test_concurrent_calls_through_both_pairs_answer_or_409_and_lose_no_turn(
    pairs: tuple[Cluster, Cluster],
):
    a, b = pairs
    _, sid = chat(sdk(a), "start")
    answered = 0
    for round_ in range(2):
        outcomes = race([sdk(a if i % 2 else b) for i in range(10)], sid, f"round {round_}")
        assert "answered" in outcomes and "busy" in outcomes, outcomes
        answered += outcomes.count("answered")
    turns = turns_of(b, sid)
    assert [t["seq"] for t in turns] == list(range(1, answered + 2))
    with http(a) as api_a:
        assert api_a.get(f"/v1/sessions/{sid}").json()["version"] == answered + 1


def test_many_sessions_at_once_across_both_pairs_keep_their_own_turns(
    pairs: tuple[Cluster, Cluster],
):
    a, b = pairs

    def conversation(i: int) -> str:
        _, sid = chat(sdk(a if i % 2 else b), f"I am number {i}.")
        answer, _ = chat(sdk(b if i % 2 else a), "Who am I?", sid)
        return answer

    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(conversation, range(12)))
    for i, answer in enumerate(answers):
        assert answer.endswith(f'This is user turn 2; your first message was: "I am number {i}.".')
