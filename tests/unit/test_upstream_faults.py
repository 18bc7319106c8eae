"""A misbehaving upstream as the connectors and failover see it, over real HTTP to the fakes:
what reaches the caller of the providers service is a clean failure (no key, no HTML, no
decoder exception), and timeouts bound every wait and move the call to the next deployment."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace

import pytest

from rhone.errors import Code, RhoneError, make_failure
from rhone.v1 import content_pb2 as c
from rhone.v1 import generation_pb2 as gen
from services.providers.config import ProvidersSettings
from services.providers.connectors.anthropic import AnthropicConnector
from services.providers.connectors.gemini import GeminiConnector
from services.providers.connectors.http import ClientPool, HttpConnector
from services.providers.connectors.openai import OpenAIChatConnector
from services.providers.failover import generate_with_failover
from services.providers.routing import Deployment
from services.providers.servicer import ProviderServicer
from services.providers.timeouts import UpstreamTimeouts
from tests.fakes import (
    Error,
    FakeAnthropic,
    FakeGemini,
    FakeOpenAI,
    Garbage,
    Hang,
    HtmlError,
    RejectKey,
    Text,
)

OPENAI_KEY = "sk-unit-upstream-key-0123456789"
ANTHROPIC_KEY = "sk-ant-unit-upstream-key-0123456789"
FAST = UpstreamTimeouts(connect_s=2.0, first_byte_s=0.5, idle_s=0.5, whole_s=0.5)


@pytest.fixture(scope="module")
def openai_up() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=OPENAI_KEY) as fake:
        yield fake


@pytest.fixture(scope="module")
def anthropic_up() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(api_key=ANTHROPIC_KEY) as fake:
        yield fake


@pytest.fixture
async def pool() -> AsyncIterator[ClientPool]:
    pool = ClientPool()
    yield pool
    await pool.aclose()


@pytest.fixture
def openai_fake(openai_up: FakeOpenAI) -> FakeOpenAI:
    openai_up.reset()
    return openai_up


@pytest.fixture
def anthropic_fake(anthropic_up: FakeAnthropic) -> FakeAnthropic:
    anthropic_up.reset()
    return anthropic_up


def openai_at(fake: FakeOpenAI, model: str = "gpt-4o") -> Deployment:
    return Deployment("openai", model, f"{fake.base_url}/v1", OPENAI_KEY, timeouts=FAST)


def anthropic_at(fake: FakeAnthropic) -> Deployment:
    return Deployment("anthropic", "claude-x", fake.base_url, ANTHROPIC_KEY, timeouts=FAST)


def request(*, whole: bool = False) -> gen.GenerateRequest:
    hi = c.Message(role=c.ROLE_USER, parts=[c.Part(text=c.TextPart(text="hi"))])
    return gen.GenerateRequest(model="m", whole=whole, messages=[hi])


async def run(
    pool: ClientPool, deployments: list[Deployment], *, whole: bool = False
) -> list[gen.GenerationEvent]:
    connectors: dict[str, HttpConnector] = {
        "openai": OpenAIChatConnector(pool),
        "anthropic": AnthropicConnector(pool),
    }
    stream = generate_with_failover(
        request(whole=whole), deployments, connectors, max_attempts=2, max_backoff_s=0.01
    )
    return [event async for event in stream]


def failure_of(events: list[gen.GenerationEvent]) -> gen.Failure:
    assert events[-1].HasField("failure"), events
    return events[-1].failure


def text_of(events: list[gen.GenerationEvent]) -> str:
    return "".join(e.part_delta.text for e in events if e.HasField("part_delta"))


def assert_clean(failure: gen.Failure, *secrets: str) -> None:
    text = f"{failure.message} {failure.detail} {failure.param}"
    for secret in secrets:
        assert secret not in text
    for leak in ("<", "Traceback", "10.42.", "Error:", "JSONDecode", "Bearer"):
        assert leak not in text, text


# -- credentials ------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403])
async def test_a_rejected_key_is_a_502_without_the_key_and_logged_masked(
    pool: ClientPool,
    openai_fake: FakeOpenAI,
    caplog: pytest.LogCaptureFixture,
    status: int,
) -> None:
    openai_fake.script(RejectKey(status=status))
    with caplog.at_level(logging.INFO):
        events = await run(pool, [openai_at(openai_fake)])

    failure = failure_of(events)
    assert (failure.http_status, failure.detail) == (502, "upstream_auth_failed")
    assert "rejected Rhone's credentials" in failure.message
    assert_clean(failure, OPENAI_KEY)
    assert len(openai_fake.requests) == 1  # not retried: the same key fails the same way
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "rejected Rhone's credentials" in logged and OPENAI_KEY[-4:] in logged
    assert OPENAI_KEY not in logged


async def test_a_rejected_key_fails_over_to_the_next_deployment(
    pool: ClientPool, openai_fake: FakeOpenAI, anthropic_fake: FakeAnthropic
) -> None:
    anthropic_fake.script(RejectKey())
    openai_fake.script(Text(["from", " the second"]))

    events = await run(pool, [anthropic_at(anthropic_fake), openai_at(openai_fake)])

    assert text_of(events) == "from the second"
    assert events[-1].HasField("finished")
    assert len(anthropic_fake.requests) == 1


# -- error bodies -------------------------------------------------------------------------------


async def test_an_html_error_page_becomes_a_clean_retried_502(
    pool: ClientPool, anthropic_fake: FakeAnthropic
) -> None:
    anthropic_fake.script(HtmlError(500), HtmlError(500))

    failure = failure_of(await run(pool, [anthropic_at(anthropic_fake)]))

    assert (failure.http_status, failure.detail) == (502, "upstream_error")
    assert failure.message == "The provider anthropic failed (HTTP 500)."
    assert_clean(failure)
    assert len(anthropic_fake.requests) == 2  # retryable like any 5xx


async def test_a_structured_client_error_passes_with_its_message_and_code(
    pool: ClientPool, openai_fake: FakeOpenAI
) -> None:
    message = f"This model's maximum context length is 8192 tokens (key {OPENAI_KEY})."
    body = {
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "param": "messages",
            "code": "context_length_exceeded",
        }
    }
    openai_fake.script(Error(400, body=body))

    failure = failure_of(await run(pool, [openai_at(openai_fake)]))

    assert failure.http_status == 400
    assert failure.detail == "context_length_exceeded"
    assert failure.param == "messages"
    assert failure.message == "This model's maximum context length is 8192 tokens (key ***)."


async def test_a_structured_server_error_gets_rhones_own_message(
    pool: ClientPool, openai_fake: FakeOpenAI
) -> None:
    leaky = "Rate limit reached for gpt-4o in organization org-secret123 on tokens per min."
    openai_fake.script(Error(429, message=leaky, retry_after=0.01), Text(["ok"]))

    events = await run(pool, [openai_at(openai_fake)])

    assert text_of(events) == "ok"  # retried after the hint
    openai_fake.script(*[Error(429, message=leaky, retry_after=0.01)] * 2)
    failure = failure_of(await run(pool, [openai_at(openai_fake)]))
    assert failure.http_status == 429
    assert "org-secret123" not in failure.message
    assert failure.detail == "rate_limit_exceeded"


# -- garbage streams ----------------------------------------------------------------------------


async def test_a_garbage_stream_before_the_first_event_is_retried(
    pool: ClientPool, openai_fake: FakeOpenAI
) -> None:
    openai_fake.script(Garbage(), Text(["after", " garbage"]))

    events = await run(pool, [openai_at(openai_fake)])

    assert text_of(events) == "after garbage"
    assert len(openai_fake.requests) == 2


async def test_a_garbage_stream_every_time_is_a_clean_502(
    pool: ClientPool, anthropic_fake: FakeAnthropic
) -> None:
    anthropic_fake.script(Garbage(), Garbage())

    failure = failure_of(await run(pool, [anthropic_at(anthropic_fake)]))

    assert (failure.http_status, failure.detail) == (502, "upstream_invalid_response")
    assert_clean(failure)


async def test_garbage_after_the_first_event_ends_the_stream_with_a_failure(
    pool: ClientPool, anthropic_fake: FakeAnthropic
) -> None:
    anthropic_fake.script(Garbage(after_chunks=1, then=Text(["partial", " never"])))

    events = await run(pool, [anthropic_at(anthropic_fake)])

    assert events[0].HasField("started")
    assert text_of(events) == "partial"
    failure = failure_of(events)
    assert (failure.http_status, failure.detail) == (502, "upstream_invalid_response")
    assert len(anthropic_fake.requests) == 1  # after the first event nothing is retried


async def test_a_whole_answer_that_is_not_json_is_a_clean_502(
    pool: ClientPool, openai_fake: FakeOpenAI
) -> None:
    openai_fake.script(Garbage(data=b"<html>oops</html>"), Garbage(data=b"<html>oops</html>"))

    failure = failure_of(await run(pool, [openai_at(openai_fake)], whole=True))

    assert failure.detail == "upstream_invalid_response"
    assert_clean(failure)


# -- timeouts -----------------------------------------------------------------------------------


async def test_a_hang_before_headers_fails_over_within_the_first_byte_bound(
    pool: ClientPool, anthropic_fake: FakeAnthropic, openai_fake: FakeOpenAI
) -> None:
    anthropic_fake.script(Hang(before_headers=True))
    openai_fake.script(Text(["the healthy one"]))

    started = time.monotonic()
    events = await run(pool, [anthropic_at(anthropic_fake), openai_at(openai_fake)])

    assert text_of(events) == "the healthy one"
    assert time.monotonic() - started < FAST.first_byte_s + 1.0
    assert len(anthropic_fake.requests) == 1  # a deployment that hung is not asked again
    assert anthropic_fake.disconnected.wait(3), "the hung request was never closed"


async def test_headers_without_a_first_event_count_against_the_first_byte_bound(
    pool: ClientPool, anthropic_fake: FakeAnthropic
) -> None:
    # 200 and its headers at once, then only pings: a ping is not an event that counts.
    anthropic_fake.script(Hang(preamble=False))

    started = time.monotonic()
    failure = failure_of(await run(pool, [anthropic_at(anthropic_fake)]))

    assert (failure.http_status, failure.detail) == (504, "upstream_timeout")
    assert time.monotonic() - started < FAST.first_byte_s + 1.0


async def test_a_hang_mid_stream_ends_it_with_upstream_timeout(
    pool: ClientPool, openai_fake: FakeOpenAI
) -> None:
    # The hang keeps sending keep-alive comments: they are not events.
    openai_fake.script(Hang(interval_s=0.05))

    started = time.monotonic()
    events = await run(pool, [openai_at(openai_fake)])

    assert events[0].HasField("started")
    failure = failure_of(events)
    assert (failure.http_status, failure.detail) == (504, "upstream_timeout")
    assert "mid-answer" in failure.message
    assert time.monotonic() - started < FAST.idle_s + 1.0
    assert openai_fake.disconnected.wait(3)


async def test_a_slow_but_steady_stream_is_not_cut_by_the_idle_bound(
    pool: ClientPool, openai_fake: FakeOpenAI
) -> None:
    # 12 chunks 0.15 s apart: longer than the idle bound in total, never idle that long (the
    # bound is wide enough that a loaded machine does not stretch a 0.15 s gap past it).
    steady = dataclasses.replace(
        openai_at(openai_fake), timeouts=dataclasses.replace(FAST, idle_s=1.5)
    )
    openai_fake.script(Text(list("abcdefghijkl"), chunk_delay_s=0.15))

    events = await run(pool, [steady])

    assert text_of(events) == "abcdefghijkl"
    assert events[-1].HasField("finished")


async def test_a_whole_call_that_hangs_is_bounded_by_the_whole_answer_bound(
    pool: ClientPool, openai_fake: FakeOpenAI
) -> None:
    openai_fake.script(Hang())  # a non-stream call gets no status line

    started = time.monotonic()
    failure = failure_of(await run(pool, [openai_at(openai_fake)], whole=True))

    assert failure.detail == "upstream_timeout"
    assert time.monotonic() - started < FAST.whole_s + 1.0


# -- token counting -------------------------------------------------------------------------------


class _Context:
    """The little of a gRPC servicer context CountTokens uses: an abort that raises."""

    def __init__(self) -> None:
        self.aborted: tuple[object, str] | None = None

    async def abort(self, code: object, message: str) -> None:
        self.aborted = (code, message)
        raise RuntimeError("aborted")


async def test_a_count_refused_for_rhones_credentials_falls_back_to_the_estimate(
    pool: ClientPool, anthropic_fake: FakeAnthropic
) -> None:
    wrong_key = replace(anthropic_at(anthropic_fake), api_key="sk-ant-revoked-key-000000000")

    class OneDeployment(ProviderServicer):
        def deployments(self, model: str) -> list[Deployment]:
            return [wrong_key]

    servicer = OneDeployment(ProvidersSettings(), {"anthropic": AnthropicConnector(pool)})
    context = _Context()

    counted = await servicer.CountTokens(request(), context)  # type: ignore[arg-type]

    assert context.aborted is None
    assert counted.estimated and counted.input_tokens > 0
    assert len(anthropic_fake.requests) == 1


# -- Rhone's own credentials ----------------------------------------------------------------------


class _NoCredentials(OpenAIChatConnector):
    """A connector whose credentials cannot be produced, as a Vertex service account whose
    key file is gone or whose refresh Google refuses."""

    def __init__(self, pool: ClientPool, failure: gen.Failure) -> None:
        super().__init__(pool)
        self.failure = failure

    async def headers(self, deployment: Deployment) -> dict[str, str]:
        raise RhoneError(self.failure)


async def test_credentials_rhone_cannot_produce_are_a_502_and_fail_over(
    pool: ClientPool, openai_fake: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    operator_detail = "token refresh failed: invalid_grant for /etc/rhone/sa-key.json"
    broken = make_failure(Code.ERROR_CODE_AUTHENTICATION, operator_detail, http_status=401)
    connectors = {"vertex": _NoCredentials(pool, broken), "openai": OpenAIChatConnector(pool)}
    vertex = Deployment("vertex", "gemini-2.5-flash", openai_fake.base_url, timeouts=FAST)
    openai_fake.script(Text(["fallback"]))

    with caplog.at_level(logging.INFO):
        alone = [
            e
            async for e in generate_with_failover(
                request(), [vertex], connectors, max_attempts=2, max_backoff_s=0.01
            )
        ]
        both = [
            e
            async for e in generate_with_failover(
                request(),
                [vertex, openai_at(openai_fake)],
                connectors,
                max_attempts=2,
                max_backoff_s=0.01,
            )
        ]

    failure = failure_of(alone)
    assert (failure.http_status, failure.detail) == (502, "upstream_auth_failed")
    assert "sa-key.json" not in failure.message and "invalid_grant" not in failure.message
    assert "sa-key.json" in caplog.text  # the operator is told
    assert text_of(both) == "fallback"


async def test_credentials_unavailable_for_now_are_a_retried_503(pool: ClientPool) -> None:
    flaky = make_failure(
        Code.ERROR_CODE_UNAVAILABLE, "could not reach Google: TransportError", http_status=502
    )
    connectors = {"vertex": _NoCredentials(pool, flaky)}
    vertex = Deployment("vertex", "gemini-2.5-flash", "http://127.0.0.1:9", timeouts=FAST)

    events = [
        e
        async for e in generate_with_failover(
            request(), [vertex], connectors, max_attempts=2, max_backoff_s=0.01
        )
    ]

    failure = failure_of(events)
    assert (failure.http_status, failure.detail) == (503, "upstream_unreachable")
    assert failure.retryable and "TransportError" not in failure.message


async def test_googles_invalid_key_400_is_an_auth_failure_too(pool: ClientPool) -> None:
    # Google answers a bad key with 400 INVALID_ARGUMENT + ErrorInfo API_KEY_INVALID.
    with FakeGemini(api_key="AIza-the-right-key-000000") as gemini:
        wrong = Deployment(
            "gemini",
            "gemini-2.5-flash",
            gemini.base_url,
            "AIza-a-revoked-key-111111",
            timeouts=FAST,
        )
        connectors = {"gemini": GeminiConnector(pool)}
        events = [
            e
            async for e in generate_with_failover(
                request(), [wrong], connectors, max_attempts=2, max_backoff_s=0.01
            )
        ]

    failure = failure_of(events)
    assert (failure.http_status, failure.detail) == (502, "upstream_auth_failed")
    assert_clean(failure, "AIza-a-revoked-key-111111")


async def test_a_stream_without_sse_framing_is_a_retried_502(
    pool: ClientPool, openai_fake: FakeOpenAI
) -> None:
    page = b"<html><body><h1>502 Bad Gateway</h1>nginx</body></html>\n"
    openai_fake.script(Garbage(data=page), Text(["framed", " again"]))

    assert text_of(await run(pool, [openai_at(openai_fake)])) == "framed again"

    openai_fake.script(Garbage(data=page), Garbage(data=page))
    failure = failure_of(await run(pool, [openai_at(openai_fake)]))
    assert failure.http_status == 502
    assert_clean(failure)
