"""A misbehaving upstream, seen through the official openai and anthropic SDKs against the four
real services: a provider that echoes Rhone's key in its 401, answers an HTML page, sends a
garbage stream or hangs. The client gets a clean error in its surface's shape (no key, no HTML,
no decoder exception), a hanging deployment gives way to a healthy one in bounded time, and no
provider key reaches any service log."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import grpc
import openai
import pytest
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from rhone.launcher import Cluster, Ports
from rhone.v1 import content_pb2 as content
from rhone.v1 import generation_pb2 as gen
from rhone.v1 import providers_pb2_grpc
from tests.fakes import (
    Error,
    FakeAnthropic,
    FakeOpenAI,
    Garbage,
    Hang,
    HtmlError,
    RejectKey,
    Text,
)
from tests.integration.conftest import API_KEY

OPENAI_KEY = "sk-proj-faults-openai-upstream-key-1234"
ANTHROPIC_KEY = "sk-ant-faults-anthropic-upstream-key-5678"
BACKUP_KEY = "sk-faults-backup-server-key-9012"
BACKUP_KEY_ENV = "RHONE_TEST_BACKUP_KEY"
KEYS = (OPENAI_KEY, ANTHROPIC_KEY, BACKUP_KEY)
# Bounds of this cluster: short, so that a hang costs seconds (the defaults are minutes).
FIRST_BYTE_S = 3.0
IDLE_S = 3.0
WHOLE_S = 3.0
TIGHT_FIRST_BYTE_S = 0.3
MARGIN_S = 4.0  # process hops and a loaded machine
LEAKS = ("<html", "<!DOCTYPE", "Traceback", "10.42.", "JSONDecodeError", "Bearer ", "orjson")


@pytest.fixture(scope="module")
def openai_up() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=OPENAI_KEY) as fake:
        yield fake


@pytest.fixture(scope="module")
def anthropic_up() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(api_key=ANTHROPIC_KEY) as fake:
        yield fake


@pytest.fixture(scope="module")
def backup_up() -> Iterator[FakeOpenAI]:
    """A healthy OpenAI-compatible server that failover falls back to."""
    with FakeOpenAI(api_key=BACKUP_KEY, models=("llama-ok",)) as fake:
        yield fake


@pytest.fixture
def fakes(
    openai_up: FakeOpenAI, anthropic_up: FakeAnthropic, backup_up: FakeOpenAI
) -> tuple[FakeOpenAI, FakeAnthropic, FakeOpenAI]:
    for fake in (openai_up, anthropic_up, backup_up):
        fake.reset()
    return openai_up, anthropic_up, backup_up


@pytest.fixture(scope="module")
def faults_cluster(
    tmp_path_factory: pytest.TempPathFactory,
    openai_up: FakeOpenAI,
    anthropic_up: FakeAnthropic,
    backup_up: FakeOpenAI,
) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("faults")
    routing = root / "routing.yaml"
    config = {
        "providers": {
            "backup": {"base_url": backup_up.base_url + "/v1", "api_key_env": BACKUP_KEY_ENV}
        },
        "models": {
            "hang-then-backup": ["anthropic/claude-hangs", "backup/llama-ok"],
            "auth-then-backup": ["openai/gpt-rejected", "backup/llama-ok"],
            "tight": [
                {
                    "provider": "anthropic",
                    "model": "claude-tight",
                    "timeouts": {"first_byte_s": TIGHT_FIRST_BYTE_S},
                }
            ],
        },
    }
    routing.write_text(yaml.safe_dump(config))
    env = {
        "RHONE_API_KEY": API_KEY,
        "RHONE_DATABASE_URL": f"sqlite:///{root}/rhone.db",
        "OPENAI_API_KEY": OPENAI_KEY,
        "OPENAI_BASE_URL": openai_up.base_url + "/v1",
        "ANTHROPIC_API_KEY": ANTHROPIC_KEY,
        "ANTHROPIC_BASE_URL": anthropic_up.base_url,
        BACKUP_KEY_ENV: BACKUP_KEY,
        "RHONE_ROUTING_CONFIG": str(routing),
        "RHONE_PROVIDER_MAX_ATTEMPTS": "2",
        "RHONE_PROVIDER_MAX_BACKOFF_S": "0.05",
        "RHONE_UPSTREAM_FIRST_BYTE_TIMEOUT_S": str(FIRST_BYTE_S),
        "RHONE_UPSTREAM_IDLE_TIMEOUT_S": str(IDLE_S),
        "RHONE_UPSTREAM_WHOLE_TIMEOUT_S": str(WHOLE_S),
        "RHONE_LOG_LEVEL": "INFO",
    }
    log_dir = Path(os.environ.get("RHONE_TEST_LOGS", root / "logs")) / "faults"
    cluster = Cluster(Ports.free(), env=env, log_dir=log_dir)
    cluster.start()
    try:
        cluster.wait_ready(60)
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def chat(faults_cluster: Cluster) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=faults_cluster.base_url + "/v1", api_key=API_KEY, max_retries=0, timeout=30
    )


@pytest.fixture
def messages(faults_cluster: Cluster) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=faults_cluster.base_url, api_key=API_KEY, max_retries=0, timeout=30
    )


USER: Any = [{"role": "user", "content": "hello"}]


def ask_chat(client: openai.OpenAI, model: str, *, stream: bool = False) -> str:
    if stream:
        chunks = client.chat.completions.create(model=model, messages=USER, stream=True)
        return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    answer = client.chat.completions.create(model=model, messages=USER)
    return answer.choices[0].message.content or ""


def ask_messages(client: anthropic.Anthropic, model: str, *, stream: bool = False) -> str:
    if stream:
        with client.messages.stream(model=model, max_tokens=50, messages=USER) as events:
            return "".join(events.text_stream)
    answer = client.messages.create(model=model, max_tokens=50, messages=USER)
    return "".join(block.text for block in answer.content if block.type == "text")


def assert_clean(error: openai.APIStatusError | anthropic.APIStatusError) -> None:
    """Nothing of the upstream's credentials or internals in what the client received."""
    seen = f"{error.message} {error.body} {error.response.text}"
    for secret in KEYS:
        assert secret not in seen
        assert secret[-12:] not in seen
    for leak in LEAKS:
        assert leak not in seen, f"{leak!r} reached the client: {seen}"


# -- a provider that rejects Rhone's key, echoing it ------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_a_rejected_key_is_a_clean_502_on_chat(chat: openai.OpenAI, fakes: Any, stream: bool):
    openai_fake, _, _ = fakes
    openai_fake.script(RejectKey())
    with pytest.raises(openai.APIStatusError) as caught:
        ask_chat(chat, "gpt-4o", stream=stream)
    error = caught.value
    assert error.status_code == 502
    assert error.code == "upstream_auth_failed"
    assert error.response.headers["x-rhone-error-code"] == "upstream_auth_failed"
    assert "rejected Rhone's credentials" in error.message
    assert_clean(error)
    assert len(openai_fake.requests) == 1


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_a_rejected_key_is_a_clean_502_on_messages(
    messages: anthropic.Anthropic, fakes: Any, stream: bool
):
    _, anthropic_fake, _ = fakes
    anthropic_fake.script(RejectKey(status=403))
    with pytest.raises(anthropic.APIStatusError) as caught:
        ask_messages(messages, "claude-sonnet-4-6", stream=stream)
    error = caught.value
    assert error.status_code == 502
    assert error.body["error"]["type"] == "api_error"
    assert error.response.headers["x-rhone-error-code"] == "upstream_auth_failed"
    assert "rejected Rhone's credentials" in error.message
    assert_clean(error)


def test_a_rejected_key_fails_over_to_the_next_deployment(chat: openai.OpenAI, fakes: Any):
    openai_fake, _, backup = fakes
    openai_fake.script(RejectKey())
    backup.script(Text(["served by", " the backup"]))
    assert ask_chat(chat, "auth-then-backup") == "served by the backup"
    assert len(openai_fake.requests) == 1


# -- error bodies: HTML replaced, structured client errors passed -------------------------------


def test_an_html_error_page_never_reaches_the_chat_client(chat: openai.OpenAI, fakes: Any):
    openai_fake, _, _ = fakes
    openai_fake.script(HtmlError(500), HtmlError(500))
    with pytest.raises(openai.APIStatusError) as caught:
        ask_chat(chat, "gpt-4o")
    assert caught.value.status_code == 502
    assert caught.value.body["message"] == "The provider openai failed (HTTP 500)."
    assert_clean(caught.value)


def test_an_html_error_page_never_reaches_the_messages_client(
    messages: anthropic.Anthropic, fakes: Any
):
    _, anthropic_fake, _ = fakes
    anthropic_fake.script(HtmlError(503), HtmlError(503))
    with pytest.raises(anthropic.APIStatusError) as caught:
        ask_messages(messages, "claude-sonnet-4-6", stream=True)
    assert caught.value.status_code == 503
    assert caught.value.body["error"]["message"] == "The provider anthropic failed (HTTP 503)."
    assert_clean(caught.value)


CONTEXT_LENGTH = {
    "error": {
        "message": "This model's maximum context length is 128000 tokens.",
        "type": "invalid_request_error",
        "param": "messages",
        "code": "context_length_exceeded",
    }
}


def test_a_context_length_error_passes_to_chat_with_its_message_and_code(
    chat: openai.OpenAI, fakes: Any
):
    openai_fake, _, _ = fakes
    openai_fake.script(Error(400, body=CONTEXT_LENGTH))
    with pytest.raises(openai.BadRequestError) as caught:
        ask_chat(chat, "gpt-4o")
    assert caught.value.code == "context_length_exceeded"
    assert caught.value.body["message"] == "This model's maximum context length is 128000 tokens."
    assert caught.value.param == "messages"


def test_a_content_filter_error_passes_to_messages_with_its_message(
    messages: anthropic.Anthropic, fakes: Any
):
    _, anthropic_fake, _ = fakes
    refusal = "Output blocked by content filtering policy"
    anthropic_fake.script(Error(400, message=refusal))
    with pytest.raises(anthropic.BadRequestError) as caught:
        ask_messages(messages, "claude-sonnet-4-6")
    assert caught.value.body["error"] == {"type": "invalid_request_error", "message": refusal}


# -- garbage streams ------------------------------------------------------------------------------


def test_a_garbage_stream_before_the_first_event_is_retried(chat: openai.OpenAI, fakes: Any):
    openai_fake, _, _ = fakes
    openai_fake.script(Garbage(), Text(["clean", " answer"]))
    assert ask_chat(chat, "gpt-4o", stream=True) == "clean answer"
    assert len(openai_fake.requests) == 2


@pytest.mark.parametrize("surface", ["chat", "messages"])
def test_a_garbage_stream_every_time_is_a_clean_502(
    chat: openai.OpenAI, messages: anthropic.Anthropic, fakes: Any, surface: str
):
    openai_fake, anthropic_fake, _ = fakes
    error: openai.APIStatusError | anthropic.APIStatusError
    if surface == "chat":
        openai_fake.script(Garbage(), Garbage())
        with pytest.raises(openai.APIStatusError) as chat_caught:
            ask_chat(chat, "gpt-4o", stream=True)
        error = chat_caught.value
        assert error.code == "upstream_invalid_response"
    else:
        anthropic_fake.script(Garbage(), Garbage())
        with pytest.raises(anthropic.APIStatusError) as messages_caught:
            ask_messages(messages, "claude-sonnet-4-6", stream=True)
        error = messages_caught.value
    assert error.status_code == 502
    assert error.response.headers["x-rhone-error-code"] == "upstream_invalid_response"
    assert_clean(error)


def test_garbage_after_the_first_event_makes_the_chat_sdk_raise(chat: openai.OpenAI, fakes: Any):
    openai_fake, _, _ = fakes
    openai_fake.script(Garbage(after_chunks=1, then=Text(["partial", " never"])))
    with pytest.raises(openai.APIError) as caught:
        ask_chat(chat, "gpt-4o", stream=True)
    assert "could not read" in caught.value.message
    assert not any(leak in str(caught.value.body) for leak in LEAKS)
    assert len(openai_fake.requests) == 1


def test_garbage_after_the_first_event_makes_the_anthropic_sdk_raise(
    messages: anthropic.Anthropic, fakes: Any
):
    _, anthropic_fake, _ = fakes
    anthropic_fake.script(Garbage(after_chunks=1, then=Text(["partial", " never"])))
    with pytest.raises(anthropic.APIError) as caught:
        ask_messages(messages, "claude-sonnet-4-6", stream=True)
    assert "could not read" in caught.value.message
    assert len(anthropic_fake.requests) == 1


# -- hangs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("surface", ["chat", "messages"])
def test_a_deployment_hanging_before_headers_gives_way_to_a_healthy_one(
    chat: openai.OpenAI, messages: anthropic.Anthropic, fakes: Any, surface: str
):
    _, anthropic_fake, backup = fakes
    anthropic_fake.script(Hang(before_headers=True))
    backup.script(Text(["the healthy", " deployment"]))
    started = time.monotonic()
    if surface == "chat":
        text = ask_chat(chat, "hang-then-backup", stream=True)
    else:
        text = ask_messages(messages, "hang-then-backup", stream=True)
    elapsed = time.monotonic() - started
    assert text == "the healthy deployment"
    assert FIRST_BYTE_S <= elapsed < FIRST_BYTE_S + MARGIN_S
    assert len(anthropic_fake.requests) == 1
    assert anthropic_fake.disconnected.wait(5), "the hung upstream request was left open"


def test_a_hang_on_the_only_deployment_is_a_504_within_the_bound(
    messages: anthropic.Anthropic, fakes: Any
):
    _, anthropic_fake, _ = fakes
    anthropic_fake.script(Hang())  # a non-streamed call: not even a status line
    started = time.monotonic()
    with pytest.raises(anthropic.APIStatusError) as caught:
        ask_messages(messages, "claude-sonnet-4-6")
    assert time.monotonic() - started < WHOLE_S + MARGIN_S
    assert caught.value.status_code == 504
    assert caught.value.response.headers["x-rhone-error-code"] == "upstream_timeout"
    assert_clean(caught.value)


def test_a_hang_mid_stream_ends_the_stream_with_an_error_in_bounded_time(
    chat: openai.OpenAI, fakes: Any
):
    openai_fake, _, _ = fakes
    openai_fake.script(Hang(interval_s=0.05))  # the role chunk, then keep-alive comments
    started = time.monotonic()
    with pytest.raises(openai.APIError) as caught:
        ask_chat(chat, "gpt-4o", stream=True)
    assert time.monotonic() - started < IDLE_S + MARGIN_S
    assert "mid-answer" in caught.value.message
    assert openai_fake.disconnected.wait(5)


def test_a_deployment_timeout_in_the_routing_config_overrides_the_default(
    chat: openai.OpenAI, fakes: Any
):
    _, anthropic_fake, _ = fakes
    anthropic_fake.script(Hang(preamble=False))  # headers, then only pings
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as caught:
        ask_chat(chat, "tight", stream=True)
    assert time.monotonic() - started < FIRST_BYTE_S  # its own 0.3 s, not the default 3 s
    assert caught.value.status_code == 504
    assert caught.value.code == "upstream_timeout"


# -- readiness after a restart, then the logs of everything above ---------------------------------


def _providers_serving(cluster: Cluster) -> bool:
    with grpc.insecure_channel(f"127.0.0.1:{cluster.ports.providers}") as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=1
            )
        except grpc.RpcError:
            return False
    return reply.status == health_pb2.HealthCheckResponse.SERVING


def test_a_restarted_providers_service_serves_the_moment_it_says_serving(
    faults_cluster: Cluster, chat: openai.OpenAI, fakes: Any
):
    # SERVING is set only once the routing config is loaded and every connector exists (no
    # lazy set-up behind it): the first upstream call on a fresh connection is served.
    faults_cluster.stop_service("providers")
    faults_cluster.start_service("providers")
    deadline = time.monotonic() + 30
    while not _providers_serving(faults_cluster):
        assert time.monotonic() < deadline, "providers never reported SERVING"
        time.sleep(0.02)
    hello = content.Message(
        role=content.ROLE_USER, parts=[content.Part(text=content.TextPart(text="hi"))]
    )
    request = gen.GenerateRequest(model="gpt-4o", messages=[hello])
    with grpc.insecure_channel(f"127.0.0.1:{faults_cluster.ports.providers}") as channel:
        events = list(
            providers_pb2_grpc.ProviderServiceStub(channel).Generate(
                request, metadata=faults_cluster.service_metadata()
            )
        )
    assert events[-1].HasField("finished"), events[-1]
    # Through the facade, once the translator's channel has reconnected (its backoff).
    deadline = time.monotonic() + 10
    while True:
        try:
            assert ask_chat(chat, "gpt-4o") == "Hello"
            break
        except openai.APIStatusError as exc:
            assert exc.status_code == 503 and time.monotonic() < deadline


def test_no_provider_key_reaches_any_service_log(faults_cluster: Cluster):
    assert faults_cluster.log_dir is not None
    logs = {log.name: log.read_text() for log in Path(faults_cluster.log_dir).glob("*.log")}
    assert {"providers.log", "translator.log", "facade.log"} <= set(logs)
    for name, text in logs.items():
        for secret in KEYS:
            assert secret not in text, f"{name} leaks a provider key"
    # The operator is told, with the key masked.
    assert "rejected Rhone's credentials" in logs["providers.log"]
    assert f"key ...{OPENAI_KEY[-4:]}" in logs["providers.log"]
