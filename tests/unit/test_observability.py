"""The observability library on its own: log lines (JSON and text) with the call's ids and no
secrets, the call scope and what travels between services, and tracing's off switch."""

from __future__ import annotations

import logging

import orjson
import pytest

from rhone.errors import Code, make_failure
from rhone.observability import metrics, scope, tracing
from rhone.observability.upstream import observe_generation
from rhone.runtime.logs import CallIds, JsonFormatter, SecretRedactor, TextFormatter, log_format
from rhone.v1 import generation_pb2 as gen


def _record(message: str, *args: object, **fields: object) -> logging.LogRecord:
    record = logging.LogRecord("rhone.test", logging.INFO, __file__, 1, message, args, None)
    if fields:
        record.fields = fields
    return record


def _format(formatter: logging.Formatter, record: logging.LogRecord) -> str:
    for log_filter in (SecretRedactor(), CallIds()):
        log_filter.filter(record)
    return formatter.format(record)


@pytest.fixture
def in_call() -> object:
    token = scope.enter(
        scope.CallScope(
            request_id="req_abc",
            tenant="acme",
            session_id="sess_1",
            traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )
    )
    yield token
    scope.leave(token)


def test_a_json_line_parses_and_carries_the_call_ids(in_call: object) -> None:
    line = _format(JsonFormatter("facade", SecretRedactor()), _record("hello %s", "world", a=1))
    parsed = orjson.loads(line)
    assert parsed["message"] == "hello world"
    assert parsed["service"] == "facade" and parsed["level"] == "INFO"
    assert parsed["request_id"] == "req_abc" and parsed["tenant"] == "acme"
    assert parsed["session_id"] == "sess_1"
    # Tracing off here: the client's own trace id, from its traceparent.
    assert parsed["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert parsed["a"] == 1


def test_secrets_never_reach_a_line_in_either_format(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-live-0123456789abcdef")
    for formatter in (
        JsonFormatter("providers", SecretRedactor()),
        TextFormatter("providers", SecretRedactor()),
    ):
        line = _format(
            formatter,
            _record(
                "calling with %s and Bearer rk-user-key-99 ?key=AIzaSecret",
                "sk-live-0123456789abcdef",
                header="x-api-key: sk-live-0123456789abcdef",
            ),
        )
        for secret in ("sk-live-0123456789abcdef", "rk-user-key-99", "AIzaSecret"):
            assert secret not in line, (type(formatter).__name__, line)


def test_a_text_line_ends_with_the_ids(in_call: object) -> None:
    line = _format(TextFormatter("sessions", SecretRedactor()), _record("stored"))
    assert " sessions INFO rhone.test: stored " in line
    assert "request_id=req_abc" in line and "tenant=acme" in line


def test_a_line_outside_any_call_has_no_ids() -> None:
    parsed = orjson.loads(_format(JsonFormatter("x", SecretRedactor()), _record("boot")))
    assert not {"request_id", "tenant", "session_id", "trace_id"} & set(parsed)


def test_the_log_format_setting_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RHONE_LOG_FORMAT", "JSON")
    assert log_format() == "json"
    monkeypatch.setenv("RHONE_LOG_FORMAT", "yaml")
    with pytest.raises(ValueError, match="RHONE_LOG_FORMAT"):
        log_format()


def test_request_ids_from_clients_are_kept_only_when_safe_to_echo() -> None:
    assert scope.valid_request_id("abc-123_X") == "abc-123_X"
    assert scope.valid_request_id("a b") == ""
    assert scope.valid_request_id("x" * 129) == ""
    assert scope.valid_request_id("bad\nline") == ""
    assert scope.new_request_id().startswith("req_")


def test_what_the_translator_learned_travels_back_in_its_trailer() -> None:
    told = scope.CallScope(
        model="gpt-4o", provider="openai", usage=scope.Usage(10, 2, 4, 1), error_code="x"
    )
    heard = scope.CallScope()
    heard.absorb_trailer(told.trailer())
    assert (heard.model, heard.provider, heard.usage, heard.error_code) == (
        "gpt-4o",
        "openai",
        scope.Usage(10, 2, 4, 1),
        "x",
    )
    assert scope.Usage.decode("garbage") == scope.Usage()


def test_ids_travel_to_peers_as_metadata() -> None:
    sent = scope.CallScope(request_id="r1", tenant="t1", session_id="s1").outgoing_metadata()
    received = scope.from_metadata(sent)
    assert (received.request_id, received.tenant, received.session_id) == ("r1", "t1", "s1")


def test_error_codes_are_the_detail_else_the_canonical_code() -> None:
    busy = make_failure(Code.ERROR_CODE_CONFLICT, "busy", detail="session_busy")
    assert scope.error_code_of(busy) == "session_busy"
    assert scope.error_code_of(make_failure(Code.ERROR_CODE_RATE_LIMITED, "slow")) == (
        "rate_limited"
    )


def test_the_first_failure_of_a_call_is_its_error_code() -> None:
    token = scope.enter(scope.CallScope())
    try:
        scope.note_failure(make_failure(Code.ERROR_CODE_UNAVAILABLE, "down"))
        scope.note_failure(make_failure(Code.ERROR_CODE_INTERNAL, "later"))
        assert scope.current().error_code == "unavailable"
    finally:
        scope.leave(token)


def test_tracing_is_off_unless_the_environment_asks(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_TRACES_EXPORTER",
        "OTEL_SDK_DISABLED",
    ):
        monkeypatch.delenv(name, raising=False)
    assert not tracing.wanted()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    assert tracing.wanted()
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert not tracing.wanted()
    monkeypatch.delenv("OTEL_SDK_DISABLED")
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    assert not tracing.wanted()


async def test_with_tracing_off_a_generation_is_passed_through_untouched() -> None:
    assert not tracing.enabled()

    async def events():  # type: ignore[no-untyped-def]
        yield gen.GenerationEvent()

    stream = events()
    assert observe_generation(gen.GenerateRequest(model="m"), stream) is stream
    await stream.aclose()


def test_a_metrics_port_must_be_a_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RHONE_SESSIONS_METRICS_PORT", raising=False)
    assert metrics.metrics_port("sessions") == 0
    monkeypatch.setenv("RHONE_SESSIONS_METRICS_PORT", "9090")
    assert metrics.metrics_port("sessions") == 9090
    monkeypatch.setenv("RHONE_SESSIONS_METRICS_PORT", "nine")
    with pytest.raises(ValueError, match="RHONE_SESSIONS_METRICS_PORT"):
        metrics.metrics_port("sessions")


def test_tenant_token_counts_only_behind_their_setting() -> None:
    before = metrics.TENANT_TOKENS.labels("unit-tenant", "input")._value.get()
    metrics.count_tokens("m-unit", "p-unit", "unit-tenant", scope.Usage(5, 1))
    assert metrics.TOKENS.labels("m-unit", "p-unit", "input")._value.get() == 5
    expected = before + (5 if metrics.tenant_label_enabled() else 0)
    assert metrics.TENANT_TOKENS.labels("unit-tenant", "input")._value.get() == expected
