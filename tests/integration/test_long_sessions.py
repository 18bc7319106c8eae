"""Long sessions (docs/long-sessions.md): a session driven past its model's context window, on
the local model with a small window (RHONE_LOCAL_CONTEXT_WINDOW), under each context policy;
summaries made by another provider's model (RHONE_COMPACTION_MODEL on the OpenAI fake), once;
a compacted session continued on Claude; the context and compaction endpoints; branching from
before a snapshot; a summary slower than the session's lease (RHONE_SESSION_LEASE_MS). Driven
through the official OpenAI SDK and plain HTTP."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import anthropic
import httpx
import openai
import pytest
import yaml

from rhone.launcher import Cluster, Ports
from tests.fakes.anthropic_fake import FakeAnthropic
from tests.fakes.openai_fake import FakeOpenAI
from tests.fakes.scenarios import Error, SlowFirstByte, Text
from tests.integration.conftest import API_KEY, UPSTREAM_ANTHROPIC_KEY, UPSTREAM_OPENAI_KEY

T = TypeVar("T")

WINDOW = 800
# Short, so that a summary can take longer than a lease.
LEASE_MS = 2000
SLOW_SUMMARY_S = 5.0
SUMMARIZER = "gpt-summarizer"
SUMMARY = "The user is counting fruit; apples were listed."
PREAMBLE = "Summary of the earlier conversation"


@pytest.fixture(scope="module")
def long_cluster(
    tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic
) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("long-sessions")
    routing = root / "routing.yaml"
    routing.write_text(
        yaml.safe_dump(
            {
                "models": {
                    "tiny-claude": [
                        {"provider": "anthropic", "model": "claude-tiny", "context_window": 400}
                    ]
                }
            }
        )
    )
    cluster = Cluster(
        Ports.free(),
        env={
            "RHONE_API_KEY": API_KEY,
            "RHONE_DATABASE_URL": f"sqlite:///{root}/rhone.db",
            "RHONE_LOCAL_CONTEXT_WINDOW": str(WINDOW),
            "RHONE_SESSION_LEASE_MS": str(LEASE_MS),
            "RHONE_COMPACTION_MODEL": f"openai/{SUMMARIZER}",
            "OPENAI_API_KEY": UPSTREAM_OPENAI_KEY,
            "OPENAI_BASE_URL": fake_openai.base_url + "/v1",
            "ANTHROPIC_API_KEY": UPSTREAM_ANTHROPIC_KEY,
            "ANTHROPIC_BASE_URL": fake_anthropic.base_url,
            "RHONE_ROUTING_CONFIG": str(routing),
        },
        log_dir=root / "logs",
    )
    cluster.start()
    try:
        cluster.wait_ready(60)
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def client(long_cluster: Cluster) -> openai.OpenAI:
    return openai.OpenAI(base_url=long_cluster.base_url + "/v1", api_key=API_KEY, max_retries=0)


@pytest.fixture
def http(long_cluster: Cluster) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=long_cluster.base_url,
        headers={"authorization": f"Bearer {API_KEY}"},
        timeout=60,
    ) as c:
        yield c


def user_text(n: int) -> str:
    """About thirty words: a handful of turns fill the local model's window."""
    return f"Turn {n}: " + " ".join(f"fruit{n}-{i}" for i in range(28))


def say(client: openai.OpenAI, session: str, n: int, *, model: str = "local", **rhone: Any) -> str:
    answer = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": user_text(n)}],
        extra_body={"rhone": {"session_id": session, **rhone}},
    )
    return answer.choices[0].message.content or ""


def new_session(http: httpx.Client, **fields: Any) -> str:
    created = http.post("/v1/sessions", json={"default_model": "local", **fields})
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def turns(http: httpx.Client, session: str) -> list[dict[str, Any]]:
    listed = http.get(f"/v1/sessions/{session}/turns")
    assert listed.status_code == 200, listed.text
    return list(listed.json()["data"])


def texts(messages: list[dict[str, Any]]) -> list[str]:
    """The text parts of messages as the context endpoint shows them."""
    return [p["text"] for m in messages for p in m["content"] if p["type"] == "text"]


def summary_requests(fake: FakeOpenAI) -> int:
    return sum(1 for r in fake.requests if r.body.get("model") == SUMMARIZER)


def test_error_policy_fails_cleanly_once_the_window_is_exceeded(
    client: openai.OpenAI, http: httpx.Client
):
    session = new_session(http, context={"strategy": "error"})
    assert http.get(f"/v1/sessions/{session}").json()["context"]["strategy"] == "error"
    with pytest.raises(openai.BadRequestError) as failed:
        for n in range(1, 20):
            say(client, session, n)
    assert failed.value.status_code == 400
    assert failed.value.code == "context_length_exceeded"
    assert 1 < n < 10
    # Nothing was recorded by the failed call, and the session is free for the next one.
    assert len(turns(http, session)) == n - 1
    answer = client.chat.completions.create(
        model="local",
        messages=[{"role": "user", "content": "short"}],
        extra_body={"rhone": {"session_id": session, "context": {"strategy": "truncate"}}},
    )
    assert "short" in (answer.choices[0].message.content or "")


def test_truncate_keeps_answering_and_drops_the_oldest_turns(
    client: openai.OpenAI, http: httpx.Client, fake_openai: FakeOpenAI
):
    session = new_session(http, instructions="Be brief.")
    for n in range(1, 20):
        answer = say(client, session, n, context={"strategy": "truncate"})
        assert f"Turn {n}:" in answer
    # The local model names the first message it saw: no longer the session's first.
    assert 'your first message was: "Turn 1:' not in answer
    assert "Be brief." in answer  # the instructions are never dropped
    assert not any(t.get("snapshot") for t in turns(http, session))
    assert summary_requests(fake_openai) == 0
    seen = http.get(f"/v1/sessions/{session}/context", params={"strategy": "truncate"}).json()
    assert seen["action"] == "truncate" and seen["dropped_messages"] > 0
    assert seen["context_window"] == WINDOW
    assert seen["estimated_input_tokens"] <= seen["input_budget"]
    assert seen["messages"][0]["role"] == "system"


def test_auto_compacts_once_and_reuses_the_summary(
    client: openai.OpenAI, http: httpx.Client, fake_openai: FakeOpenAI
):
    fake_openai.default = Text(chunks=(SUMMARY,), usage=(50, 10))
    try:
        session = new_session(http)
        for n in range(1, 16):
            assert f"Turn {n}:" in say(client, session, n)
    finally:
        fake_openai.default = Text()
    history = turns(http, session)
    snapshots = [i for i, t in enumerate(history) if t.get("snapshot")]
    assert snapshots, "the session was never compacted"
    # One summary per snapshot: each was made once, the calls after it reuse it.
    assert summary_requests(fake_openai) == len(snapshots) <= len(history) // 3
    first = history[snapshots[0]]
    assert PREAMBLE in first["input"][0]["content"][0]["text"]
    assert SUMMARY in first["input"][0]["content"][0]["text"]
    # The summariser read the older turns as a transcript.
    summarised = next(r for r in fake_openai.requests if r.body.get("model") == SUMMARIZER)
    assert "Turn 1:" in str(summarised.body["messages"])
    # What the next call would send starts from the latest summary.
    seen = http.get(f"/v1/sessions/{session}/context").json()
    assert seen["action"] == "none"
    assert PREAMBLE in str(seen["messages"][0])


def test_compacted_session_continues_on_another_provider_with_a_smaller_window(
    client: openai.OpenAI,
    http: httpx.Client,
    fake_openai: FakeOpenAI,
    fake_anthropic: FakeAnthropic,
):
    fake_openai.default = Text(chunks=(SUMMARY,), usage=(50, 10))
    try:
        session = new_session(http)
        for n in range(1, 12):
            say(client, session, n)
        fake_anthropic.script(Text(chunks=("From Claude.",)))
        answer = say(client, session, 12, model="tiny-claude")
    finally:
        fake_openai.default = Text()
    assert answer == "From Claude."
    sent = fake_anthropic.last_request.body["messages"]
    text = str(sent)
    assert "Turn 12:" in text and "Turn 1:" not in text
    assert PREAMBLE in text
    assert sent[0]["role"] == "user"


def test_compact_on_demand_then_branch_from_before_the_snapshot(
    client: openai.OpenAI, http: httpx.Client, fake_openai: FakeOpenAI
):
    session = new_session(http, context={"strategy": "truncate"})
    for n in range(1, 4):
        say(client, session, n)
    before = turns(http, session)
    fake_openai.script(Text(chunks=(SUMMARY,)))
    done = http.post(f"/v1/sessions/{session}:compact", json={})
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["compacted"] is True and body["turn"]["snapshot"] is True
    assert body["version"] == len(before) + 1
    history = turns(http, session)
    assert history[-1]["snapshot"] is True
    assert SUMMARY in str(history[-1]["input"][0])
    # The last exchange is kept verbatim after the summary.
    assert "Turn 3:" in str(history[-1]["input"])
    seen = http.get(f"/v1/sessions/{session}/context").json()
    assert not any(t.startswith("Turn 1:") for t in texts(seen["messages"]))
    assert SUMMARY in str(seen["messages"])
    answer = say(client, session, 4)
    assert 'your first message was: "Summary' in answer or "Turn 4:" in answer
    # A branch from the turn before the snapshot has the old turns, not the summary.
    branch = http.post(f"/v1/sessions/{session}:branch", json={"at_turn": before[-1]["id"]})
    assert branch.status_code == 201, branch.text
    branch_id = branch.json()["id"]
    seen = http.get(f"/v1/sessions/{branch_id}/context").json()
    assert texts(seen["messages"])[0].startswith("Turn 1:")
    assert SUMMARY not in str(seen["messages"])
    answer = say(client, branch_id, 5)
    assert 'your first message was: "Turn 1:' in answer


def test_bad_policies_are_400s_naming_the_field(client: openai.OpenAI, http: httpx.Client):
    bad = http.patch("/v1/sessions/" + new_session(http), json={"context": {"strategy": "x"}})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "context.strategy"
    with pytest.raises(openai.BadRequestError) as failed:
        say(client, "", 1, context={"max_input_tokens": 0})
    assert failed.value.body["param"] == "rhone.context.max_input_tokens"  # type: ignore[index]
    missing = http.post("/v1/sessions/sess_nope:compact", json={})
    assert missing.status_code == 404


def test_a_failed_summary_changes_nothing_and_frees_the_session(
    client: openai.OpenAI, http: httpx.Client, fake_openai: FakeOpenAI
):
    session = new_session(http)
    for n in range(1, 3):
        say(client, session, n)
    before = turns(http, session)
    fake_openai.script(Error(status=400, message="The summariser refused."))
    failed = http.post(f"/v1/sessions/{session}:compact", json={})
    assert failed.status_code == 400
    assert "The summariser refused." in failed.json()["error"]["message"]
    assert turns(http, session) == before
    assert "Turn 3:" in say(client, session, 3)


def test_each_surface_refuses_in_its_own_shape_and_responses_truncation_maps(
    long_cluster: Cluster, client: openai.OpenAI, http: httpx.Client
):
    session = new_session(http, context={"strategy": "error"})
    for n in range(1, 4):
        say(client, session, n, context={"strategy": "truncate"})
    claude = anthropic.Anthropic(base_url=long_cluster.base_url, api_key=API_KEY, max_retries=0)
    with pytest.raises(anthropic.BadRequestError) as refused:
        for n in range(4, 20):
            claude.messages.create(
                model="local",
                max_tokens=50,
                messages=[{"role": "user", "content": user_text(n)}],
                extra_body={"rhone": {"session_id": session}},
            )
    assert refused.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert refused.value.response.headers["x-rhone-error-code"] == "context_length_exceeded"
    # Responses' own `truncation`: "disabled" (OpenAI's default) fails, "auto" truncates.
    with pytest.raises(openai.BadRequestError) as disabled:
        client.responses.create(
            model="local",
            input=user_text(30),
            truncation="disabled",
            extra_body={"rhone": {"session_id": session}},
        )
    assert disabled.value.code == "context_length_exceeded"
    answered = client.responses.create(
        model="local",
        input=user_text(31),
        truncation="auto",
        extra_body={"rhone": {"session_id": session}},
    )
    assert "Turn 31:" in answered.output_text


def test_a_provider_that_counts_more_than_rhone_gets_a_fitted_retry(
    client: openai.OpenAI, http: httpx.Client, fake_anthropic: FakeAnthropic
):
    session = new_session(http, context={"strategy": "truncate"})
    say(client, session, 1)
    too_long = {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": "prompt is too long: 1200 tokens > 400 maximum",
        },
    }
    fake_anthropic.script(Error(status=400, body=too_long), Text(chunks=("Fitted.",)))
    answer = client.chat.completions.create(
        model="tiny-claude",
        messages=[{"role": "user", "content": "And now?"}],
        extra_body={"rhone": {"session_id": session}},
    )
    assert answer.choices[0].message.content == "Fitted."
    refused, accepted = fake_anthropic.requests
    assert "Turn 1:" in str(refused.body["messages"])
    assert accepted.body["messages"] == [{"role": "user", "content": "And now?"}]


def while_summarising(fake: FakeOpenAI, work: Callable[[], T]) -> tuple[Future[T], float]:
    """`work` started in the background, with the next summary taking SLOW_SUMMARY_S; returns
    once the summariser has been asked, and how long after that its answer comes."""
    fake.script(SlowFirstByte(SLOW_SUMMARY_S, Text(chunks=(SUMMARY,), usage=(50, 10))))
    pool = ThreadPoolExecutor(1)
    running = pool.submit(work)
    pool.shutdown(wait=False)
    deadline = time.monotonic() + 30
    while summary_requests(fake) == 0:
        assert not running.done(), running.result()
        assert time.monotonic() < deadline, "the summariser was never asked"
        time.sleep(0.02)
    return running, SLOW_SUMMARY_S


def test_a_compaction_longer_than_the_lease_keeps_the_session_and_commits(
    client: openai.OpenAI, http: httpx.Client, fake_openai: FakeOpenAI
):
    """The lease is renewed from BeginTurn on, not only once the answer streams: a call whose
    summary takes longer than two leases still records its turn, and the session stays busy
    throughout (a second call after the lease would have run out is 409 session_busy)."""
    session = new_session(http)
    n = 0
    while http.get(f"/v1/sessions/{session}/context").json()["action"] != "compact":
        n += 1
        assert n < 20, "the session never outgrew the window"
        say(client, session, n, context={"strategy": "truncate"})
    running, summary_s = while_summarising(fake_openai, lambda: say(client, session, n + 1))
    time.sleep(LEASE_MS / 1000 + 1)  # past the lease taken before the summariser was asked
    assert summary_s > LEASE_MS / 1000 + 1.5  # (still summarising)
    with pytest.raises(openai.ConflictError) as busy:
        say(client, session, 99)
    assert busy.value.code == "session_busy"
    assert f"Turn {n + 1}:" in running.result(timeout=60)
    history = turns(http, session)
    assert len(history) == n + 1 and history[-1]["snapshot"] is True
    assert SUMMARY in str(history[-1]["input"][0])
    assert "Turn 99:" not in str(history)


def test_compacting_on_demand_longer_than_the_lease_keeps_the_session(
    client: openai.OpenAI, http: httpx.Client, fake_openai: FakeOpenAI
):
    session = new_session(http, context={"strategy": "truncate"})
    for n in range(1, 4):
        say(client, session, n)
    running, _ = while_summarising(
        fake_openai, lambda: http.post(f"/v1/sessions/{session}:compact", json={})
    )
    time.sleep(LEASE_MS / 1000 + 1)
    with pytest.raises(openai.ConflictError) as busy:
        say(client, session, 99)
    assert busy.value.code == "session_busy"
    done = running.result(timeout=60)
    assert done.status_code == 200, done.text
    history = turns(http, session)
    assert len(history) == 4 and history[-1]["snapshot"] is True
