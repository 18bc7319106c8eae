"""One call's identity and outcome, for logs, metrics and the facade's access line.

A `CallScope` is set in a context variable when a call enters a service (the facade's
middleware, a gRPC server interceptor) and filled in by the code that learns things on the way
(the tenant after authentication, the model and usage when the turn ends). Tasks started by the
call copy the context, so they see, and may fill in, the same scope.

Across processes the ids and the trace context travel as gRPC metadata; what the translator
learned about a call (model, provider, usage, error code) travels back to the facade as
trailing metadata, so the facade's one access line and request metric hold all of it without a
change to the protocol."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass

from rhone.observability.tracing import TRACEPARENT, TRACESTATE, Span, remote_parent
from rhone.v1 import generation_pb2 as gen

REQUEST_ID_HEADER = "x-request-id"
# Metadata keys between services (gRPC metadata keys are lower case).
TENANT_KEY = "rhone-tenant"
SESSION_KEY = "rhone-session"
MODEL_KEY = "rhone-model"
PROVIDER_KEY = "rhone-provider"
USAGE_KEY = "rhone-usage"
ERROR_CODE_KEY = "rhone-error-code"

_MAX_REQUEST_ID = 128


@dataclass(slots=True)
class Usage:
    input: int = 0
    output: int = 0
    cached: int = 0
    reasoning: int = 0

    def encode(self) -> str:
        return f"{self.input},{self.output},{self.cached},{self.reasoning}"

    @classmethod
    def decode(cls, text: str) -> Usage:
        try:
            values = [int(v) for v in text.split(",")]
        except ValueError:
            return cls()
        return cls(*values[:4]) if len(values) >= 4 else cls()


@dataclass(slots=True)
class CallScope:
    request_id: str = ""
    tenant: str = ""
    session_id: str = ""
    model: str = ""
    provider: str = ""
    error_code: str = ""
    usage: Usage | None = None
    # The caller's W3C trace context: the parent of this process's span, or, when this
    # process does not trace, passed on as is (every service's log lines carry its trace id).
    traceparent: str = ""
    tracestate: str = ""
    # With tracing on, the call's current span in this process: the parent of the spans it
    # starts and of its peers' (rhone.observability.tracing).
    span: Span | None = None
    # The upstream attempt in progress (providers), for the attempt's span and metrics.
    attempt: int = 0
    # Calls a WebSocket carried (the socket's scope).
    calls: int = 0

    def outgoing_metadata(self) -> list[tuple[str, str]]:
        """The ids a peer's logs should carry too, and the trace context its span continues."""
        metadata = [(REQUEST_ID_HEADER, self.request_id)] if self.request_id else []
        if self.tenant:
            metadata.append((TENANT_KEY, self.tenant))
        if self.session_id:
            metadata.append((SESSION_KEY, self.session_id))
        if self.span is not None:
            metadata.extend(self.span.trace_context())
        elif self.traceparent:
            metadata.append((TRACEPARENT, self.traceparent))
            if self.tracestate:
                metadata.append((TRACESTATE, self.tracestate))
        return metadata

    def trace_id(self) -> str:
        """The trace id of the call ('' when none is known), for log lines."""
        if self.span is not None:
            return self.span.trace_id_hex()
        parent = remote_parent(self.traceparent)
        return format(parent.trace_id, "032x") if parent is not None else ""

    def started(self) -> tuple[tuple[str, str], ...]:
        """What a stream's head can already say (model, provider): the translator sends it as
        initial metadata, so that a call cancelled mid-stream still has its labels."""
        items = []
        if self.model:
            items.append((MODEL_KEY, self.model))
        if self.provider:
            items.append((PROVIDER_KEY, self.provider))
        return tuple(items)

    def trailer(self) -> tuple[tuple[str, str], ...]:
        """What this call learned, for the caller (the translator's answer to the facade)."""
        items = []
        if self.model:
            items.append((MODEL_KEY, self.model))
        if self.provider:
            items.append((PROVIDER_KEY, self.provider))
        if self.usage is not None:
            items.append((USAGE_KEY, self.usage.encode()))
        if self.error_code:
            items.append((ERROR_CODE_KEY, self.error_code))
        return tuple(items)

    def absorb_trailer(self, metadata: Iterable[tuple[str, str | bytes]] | None) -> None:
        """Takes in what a peer's trailer says (model, provider, usage, error code)."""
        for key, value in metadata or ():
            text = value.decode() if isinstance(value, bytes) else value
            if key == MODEL_KEY:
                self.model = text
            elif key == PROVIDER_KEY:
                self.provider = text
            elif key == USAGE_KEY:
                self.usage = Usage.decode(text)
            elif key == ERROR_CODE_KEY and not self.error_code:
                self.error_code = text


_SCOPE: ContextVar[CallScope | None] = ContextVar("rhone_call_scope", default=None)


def current() -> CallScope:
    """The call's scope; outside any call a throwaway one (writes to it go nowhere useful)."""
    scope = _SCOPE.get()
    return scope if scope is not None else CallScope()


def current_or_none() -> CallScope | None:
    return _SCOPE.get()


def enter(scope: CallScope) -> object:
    """Makes `scope` the current one; returns the token `leave` takes."""
    return _SCOPE.set(scope)


def leave(token: object) -> None:
    _SCOPE.reset(token)  # type: ignore[arg-type]


def new_request_id() -> str:
    return "req_" + secrets.token_hex(12)


def valid_request_id(value: str | None) -> str:
    """A client's own id when it is safe to echo and log (printable, short), else ''."""
    if not value or len(value) > _MAX_REQUEST_ID:
        return ""
    if not all(33 <= ord(c) < 127 for c in value):
        return ""
    return value


def from_metadata(metadata: Sequence[tuple[str, str | bytes]] | None) -> CallScope:
    """A server's scope from the caller's metadata."""
    scope = CallScope()
    for key, value in metadata or ():
        if key == REQUEST_ID_HEADER:
            scope.request_id = str(value)
        elif key == TENANT_KEY:
            scope.tenant = str(value)
        elif key == SESSION_KEY:
            scope.session_id = str(value)
        elif key == TRACEPARENT:
            scope.traceparent = str(value)
        elif key == TRACESTATE:
            scope.tracestate = str(value)
    return scope


def error_code_of(failure: gen.Failure) -> str:
    """A stable, low-cardinality code: the failure's detail (session_busy, model_not_found),
    else its canonical code (rate_limited, unavailable, ...)."""
    if failure.detail:
        return failure.detail
    name = gen.ErrorCode.Name(failure.code) if failure.code else "ERROR_CODE_INTERNAL"
    return name.removeprefix("ERROR_CODE_").lower()


def note_session(session_id: str) -> None:
    scope = _SCOPE.get()
    if scope is not None and session_id:
        scope.session_id = session_id


def note_started(model: str, provider: str) -> None:
    """A stream's first event has come: its model and the provider that answers."""
    scope = _SCOPE.get()
    if scope is not None:
        scope.model, scope.provider = model, provider


def note_failure(failure: gen.Failure) -> None:
    """Records the call's failure code (the first one wins: it is the cause)."""
    scope = _SCOPE.get()
    if scope is not None and not scope.error_code:
        scope.error_code = error_code_of(failure)


def note_response(model: str, response: gen.GenerateResponse, failure: gen.Failure | None) -> None:
    """What the translator learned when a turn ended: the model asked for (the label: bounded
    by what routes, so a model nothing serves is left out), the provider that answered, usage."""
    scope = _SCOPE.get()
    if scope is None:
        return
    if failure is not None:
        note_failure(failure)
    if failure is None or failure.detail != "model_not_found":
        scope.model = model
    scope.provider = response.provider
    if response.HasField("usage"):
        u = response.usage
        scope.usage = Usage(
            u.input_tokens, u.output_tokens, u.cached_input_tokens, u.reasoning_tokens
        )
