"""The observability library on its own: log lines (JSON and text) with the call's ids and no
secrets, the call scope and what travels between services, tracing's off switch, and the spans
of one call (recorded in memory) with the trace context that links them across processes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator

import httpx
import orjson
import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from rhone import canonical as ev
from rhone.errors import Code, make_failure
from rhone.observability import metrics, scope, tracing
from rhone.observability.upstream import ObservedTransport, generation_span
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


def test_with_tracing_off_nothing_is_recorded_and_the_clients_trace_context_passes_on() -> None:
    assert not tracing.enabled()
    assert tracing.start_span("x", SpanKind.SERVER, None, {}) is None
    assert generation_span(gen.GenerateRequest(model="m")) is None
    client = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    sent = scope.CallScope(request_id="r", traceparent=client, tracestate="v=1")
    assert dict(sent.outgoing_metadata())["traceparent"] == client
    assert scope.from_metadata(sent.outgoing_metadata()).tracestate == "v=1"


CLIENT_TRACE = "0af7651916cd43dd8448eb211c80319c"
CLIENT_SPAN = "b7ad6b7169203331"


def _trace_in_memory(monkeypatch: pytest.MonkeyPatch, sampler: str = "") -> InMemorySpanExporter:
    """Tracing on in this process (until the test ends), every span kept in memory."""
    name, _, arg = sampler.partition(":")
    for variable, value in (("OTEL_TRACES_SAMPLER", name), ("OTEL_TRACES_SAMPLER_ARG", arg)):
        if value:
            monkeypatch.setenv(variable, value)
        else:
            monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(tracing, "_pipeline", None)
    exporter = InMemorySpanExporter()
    tracing.install("unit", [SimpleSpanProcessor(exporter)])
    return exporter


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """Tracing on with the default sampler (parentbased_always_on)."""
    yield _trace_in_memory(monkeypatch)


def _hop(sender: scope.CallScope, name: str) -> scope.CallScope:
    """What a peer's server makes of a call `sender` makes: its scope and SERVER span."""
    received = scope.from_metadata(sender.outgoing_metadata())
    received.span = tracing.start_span(
        name,
        SpanKind.SERVER,
        tracing.remote_parent(received.traceparent, received.tracestate),
        {"rhone.request_id": received.request_id},
    )
    return received


def test_one_call_is_one_trace_under_the_clients_span(recorded: InMemorySpanExporter) -> None:
    edge = scope.CallScope(request_id="req_1")
    edge.span = tracing.start_span(
        "POST openai_chat",
        SpanKind.SERVER,
        tracing.remote_parent(f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01", "vendor=kept"),
        {"rhone.request_id": "req_1"},
    )
    translator = _hop(edge, "rhone.v1.TranslatorService/Call")
    sessions = _hop(translator, "rhone.v1.SessionService/BeginTurn")
    assert sessions.span is not None and sessions.span.trace_context()[1] == (
        "tracestate",
        "vendor=kept",
    )
    for call in (sessions, translator, edge):
        assert call.span is not None
        call.span.set_attribute("http.response.status_code", 200)
        call.span.end()
    spans = {s.name: s for s in recorded.get_finished_spans()}
    root = spans["POST openai_chat"]
    assert {format(s.context.trace_id, "032x") for s in spans.values()} == {CLIENT_TRACE}
    assert root.parent is not None and format(root.parent.span_id, "016x") == CLIENT_SPAN
    assert root.parent.is_remote and root.kind == SpanKind.SERVER
    assert spans["rhone.v1.TranslatorService/Call"].parent.span_id == root.context.span_id  # type: ignore[union-attr]
    assert (
        spans["rhone.v1.SessionService/BeginTurn"].parent.span_id  # type: ignore[union-attr]
        == spans["rhone.v1.TranslatorService/Call"].context.span_id
    )
    assert root.attributes == {"rhone.request_id": "req_1", "http.response.status_code": 200}
    assert root.resource.attributes["service.name"] == "rhone-unit"
    assert root.end_time is not None and root.start_time is not None
    assert root.end_time >= root.start_time


def test_a_trace_the_client_did_not_sample_records_nothing_but_keeps_its_ids(
    recorded: InMemorySpanExporter,
) -> None:
    edge = scope.CallScope(request_id="req_2")
    edge.span = tracing.start_span(
        "POST openai_chat",
        SpanKind.SERVER,
        tracing.remote_parent(f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-00"),
        {},
    )
    peer = _hop(edge, "rhone.v1.TranslatorService/Call")
    assert peer.span is not None and edge.span is not None
    assert peer.trace_id() == CLIENT_TRACE
    assert dict(edge.outgoing_metadata())["traceparent"].endswith("-00")
    peer.span.end()
    edge.span.end()
    assert recorded.get_finished_spans() == ()


@pytest.mark.parametrize(
    ("sampler", "client_flags", "recorded_spans"),
    [
        ("", "01", 2),
        ("", "00", 0),
        ("", None, 2),
        ("always_on", "00", 2),
        ("always_off", "01", 0),
        ("parentbased_always_off", None, 0),
        ("parentbased_always_off", "01", 2),
        # Samplers with an argument are asked for every span.
        ("parentbased_traceidratio:0", "01", 2),
        ("parentbased_traceidratio:0", None, 0),
        ("traceidratio:1", "00", 2),
    ],
)
def test_the_sampler_named_in_the_environment_decides_for_the_whole_call(
    monkeypatch: pytest.MonkeyPatch, sampler: str, client_flags: str | None, recorded_spans: int
) -> None:
    exporter = _trace_in_memory(monkeypatch, sampler)
    client = f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-{client_flags}" if client_flags else ""
    edge = scope.CallScope(request_id="req_4")
    edge.span = tracing.start_span(
        "POST openai_chat", SpanKind.SERVER, tracing.remote_parent(client), {}
    )
    peer = _hop(edge, "rhone.v1.TranslatorService/Call")
    assert peer.span is not None and edge.span is not None
    sampled = peer.span.context.trace_flags.sampled
    assert sampled == edge.span.context.trace_flags.sampled == (recorded_spans > 0)
    assert peer.span.trace_id_hex() == edge.span.trace_id_hex()
    peer.span.end()
    edge.span.end()
    assert len(exporter.get_finished_spans()) == recorded_spans


@pytest.mark.parametrize(
    "traceparent",
    [
        "",
        "garbage",
        f"00-{'0' * 32}-{CLIENT_SPAN}-01",
        f"00-{CLIENT_TRACE}-{'0' * 16}-01",
        f"ff-{CLIENT_TRACE}-{CLIENT_SPAN}-01",
        f"00-{CLIENT_TRACE.upper()}-{CLIENT_SPAN}-01",
        f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01-extra",
    ],
)
def test_a_traceparent_that_is_not_one_starts_a_new_trace(
    recorded: InMemorySpanExporter, traceparent: str
) -> None:
    assert tracing.remote_parent(traceparent) is None
    span = tracing.start_span("POST openai_chat", SpanKind.SERVER, None, {})
    assert span is not None and span.trace_id_hex() != CLIENT_TRACE
    span.end()
    (finished,) = recorded.get_finished_spans()
    assert finished.parent is None


def _streamed_ok(request: httpx.Request) -> httpx.Response:
    async def body() -> AsyncIterator[bytes]:
        yield b"o"
        yield b"k"

    return httpx.Response(200, content=body())


async def test_the_generation_span_holds_the_genai_attributes_and_the_upstream_call(
    recorded: InMemorySpanExporter,
) -> None:
    call = scope.CallScope(request_id="req_3", provider="openai", model="gpt-4o", attempt=1)
    call.span = tracing.start_span("rhone.v1.ProviderService/Generate", SpanKind.SERVER, None, {})
    token = scope.enter(call)
    try:
        generation = generation_span(gen.GenerateRequest(model="gpt-4o"))
        assert generation is not None and call.span is generation.span
        upstream = ObservedTransport(httpx.MockTransport(_streamed_ok))
        async with httpx.AsyncClient(transport=upstream) as client:
            reply = await client.post("https://api.openai.com/v1/chat/completions")
            assert reply.text == "ok"
        for event in (
            ev.started("chatcmpl-1", "gpt-4o-2024", "openai"),
            ev.text_delta(0, "hi"),
            ev.usage(11, 4),
            ev.finished(gen.FINISH_REASON_STOP),
        ):
            generation.note(event)
        generation.end()
    finally:
        scope.leave(token)
    assert call.span is not None and call.span.name == "rhone.v1.ProviderService/Generate"
    call.span.end()
    spans = {s.name: s for s in recorded.get_finished_spans()}
    chat, post = spans["chat gpt-4o"], spans["POST"]
    assert chat.parent.span_id == spans["rhone.v1.ProviderService/Generate"].context.span_id  # type: ignore[union-attr]
    assert post.parent.span_id == chat.context.span_id  # type: ignore[union-attr]
    assert chat.attributes["gen_ai.provider.name"] == "openai"
    assert chat.attributes["gen_ai.response.model"] == "gpt-4o-2024"
    assert chat.attributes["gen_ai.usage.input_tokens"] == 11
    assert chat.attributes["gen_ai.usage.output_tokens"] == 4
    assert tuple(chat.attributes["gen_ai.response.finish_reasons"]) == ("stop",)
    assert chat.status.status_code == StatusCode.UNSET
    assert post.kind == SpanKind.CLIENT and post.attributes["http.response.status_code"] == 200
    assert post.attributes["server.address"] == "api.openai.com"
    assert post.attributes["rhone.attempt"] == 1


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
