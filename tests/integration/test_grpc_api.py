"""The public gRPC API (rhone.api.v1 Gateway and Sessions) on the facade's gRPC port, called as
an internal team would: stubs from rhone.api.v1, the API key in `authorization` metadata.

Every public RPC refuses a missing or wrong key; every RPC that takes an id answers another
tenant's id NOT_FOUND, exactly like an unknown one; a session continues across gRPC and HTTP;
errors carry ErrorInfo (and RetryInfo where a retry helps)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import httpx
import openai
import pytest
from google.protobuf import field_mask_pb2, struct_pb2

from rhone.api.v1 import gateway_pb2 as gw
from rhone.api.v1 import gateway_pb2_grpc as gw_grpc
from rhone.api.v1 import sessions_pb2 as ss
from rhone.api.v1 import sessions_pb2_grpc as ss_grpc
from rhone.launcher import Cluster
from rhone.v1 import sessions_pb2 as internal
from rhone.v1 import sessions_pb2_grpc as internal_grpc
from tests.integration.conftest import API_KEY, OTHER_KEY
from tests.integration.grpc_support import bearer, rich_error, text_of, user

A = bearer(API_KEY)
B = bearer(OTHER_KEY)
TIMEOUT = 30


@pytest.fixture(scope="module")
def channel(cluster: Cluster) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(f"127.0.0.1:{cluster.ports.grpc}") as channel:
        yield channel


@pytest.fixture(scope="module")
def gateway(channel: grpc.Channel) -> gw_grpc.GatewayStub:
    return gw_grpc.GatewayStub(channel)


@pytest.fixture(scope="module")
def sessions(channel: grpc.Channel) -> ss_grpc.SessionsStub:
    return ss_grpc.SessionsStub(channel)


def generate(
    gateway: gw_grpc.GatewayStub, text: str, session_id: str = "", metadata: Any = A
) -> list[gw.GenerateResponse]:
    request = gw.GenerateRequest(model="local", messages=[user(text)], session_id=session_id)
    return list(gateway.Generate(request, metadata=metadata, timeout=TIMEOUT))


def answer(stream: list[gw.GenerateResponse]) -> str:
    return "".join(
        m.event.part_delta.text
        for m in stream
        if m.HasField("event") and m.event.HasField("part_delta")
    )


@pytest.fixture(scope="module")
def a_session(gateway: gw_grpc.GatewayStub) -> tuple[str, str]:
    """A session of tenant A with one turn: (session id, turn id)."""
    stream = generate(gateway, "tenant A's secret")
    return stream[0].session.session_id, stream[-1].turn.turn_id


# -- Generate: event order, continuity ---------------------------------------------------------


def test_generate_streams_session_events_turn_in_order(gateway: gw_grpc.GatewayStub):
    stream = generate(gateway, "hello")
    kinds = [m.WhichOneof("kind") for m in stream]
    assert kinds[0] == "session" and kinds[-1] == "turn"
    assert set(kinds[1:-1]) == {"event"}
    events = [m.event.WhichOneof("event") for m in stream[1:-1]]
    assert events[0] == "started"
    assert events[-2:] == ["usage", "finished"]
    assert events[1] == "part_started" and "part_finished" in events
    assert stream[0].session.session_id.startswith("sess_")
    assert stream[-1].turn.session_id == stream[0].session.session_id
    assert stream[-1].turn.turn_id.startswith("turn_")
    assert answer(stream).startswith('You said: "hello". This is user turn 1')


def test_generate_continues_a_session_and_its_turns_read_back(
    gateway: gw_grpc.GatewayStub, sessions: ss_grpc.SessionsStub
):
    first = generate(gateway, "one")
    session_id = first[0].session.session_id
    second = generate(gateway, "two", session_id)
    assert second[0].session.session_id == session_id
    assert "This is user turn 2" in answer(second)
    assert 'your first message was: "one"' in answer(second)

    turns = sessions.ListTurns(ss.ListTurnsRequest(session_id=session_id), metadata=A).turns
    assert [t.id for t in turns] == [first[-1].turn.turn_id, second[-1].turn.turn_id]
    assert [t.seq for t in turns] == [1, 2]
    assert text_of(turns[1].input[0]) == "two"
    assert text_of(turns[1].output) == answer(second)
    assert turns[1].status == ss.TURN_STATUS_COMPLETED
    assert turns[1].create_time.seconds > 0 and turns[1].duration.ToTimedelta().total_seconds() >= 0


def test_stateless_generate_sees_only_what_it_sent(gateway: gw_grpc.GatewayStub):
    first = generate(gateway, "remember me")
    request = gw.GenerateRequest(
        model="local",
        messages=[user("fresh start")],
        session_id=first[0].session.session_id,
        stateless=True,
    )
    stream = list(gateway.Generate(request, metadata=A, timeout=TIMEOUT))
    assert "This is user turn 1" in answer(stream)
    assert stream[-1].HasField("turn")


def test_an_unknown_model_fails_after_the_session_event_with_model_not_found(
    gateway: gw_grpc.GatewayStub,
):
    request = gw.GenerateRequest(model="no-such-model", messages=[user("hi")])
    received: list[gw.GenerateResponse] = []
    with pytest.raises(grpc.RpcError) as caught:
        for message in gateway.Generate(request, metadata=A, timeout=TIMEOUT):
            received.append(message)
    error = rich_error(caught.value)
    assert error.code == grpc.StatusCode.NOT_FOUND
    assert (error.reason, error.domain) == ("MODEL_NOT_FOUND", "rhone.dev")
    assert error.metadata == {"param": "model"}
    assert error.retry_delay_s is None
    # Streaming had started (the session): the failure is an event too, before the status.
    assert [m.WhichOneof("kind") for m in received] == ["session", "event"]
    assert received[-1].event.failure.detail == "model_not_found"


def test_a_request_without_messages_fails_before_any_message(gateway: gw_grpc.GatewayStub):
    request = gw.GenerateRequest(model="local")
    stream = gateway.Generate(request, metadata=A, timeout=TIMEOUT)
    with pytest.raises(grpc.RpcError) as caught:
        next(iter(stream))
    error = rich_error(caught.value)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.metadata == {"param": "request.messages"}


def test_a_busy_session_is_aborted_with_session_busy_and_retry_info(
    cluster: Cluster, gateway: gw_grpc.GatewayStub, a_session: tuple[str, str]
):
    session_id, _ = a_session
    # Another call holds the session's lease: taken here as the translator takes it.
    with grpc.insecure_channel(f"127.0.0.1:{cluster.ports.sessions}") as channel:
        stub = internal_grpc.SessionServiceStub(channel)
        begun = stub.BeginTurn(
            internal.BeginTurnRequest(tenant_id="default", session_id=session_id, lease_ms=60_000),
            metadata=cluster.service_metadata(),
        )
        try:
            with pytest.raises(grpc.RpcError) as caught:
                generate(gateway, "me too", session_id)
        finally:
            stub.AbortTurn(
                internal.AbortTurnRequest(
                    tenant_id="default", session_id=session_id, lease_id=begun.lease_id
                ),
                metadata=cluster.service_metadata(),
            )
    error = rich_error(caught.value)
    assert error.code == grpc.StatusCode.ABORTED
    assert error.reason == "SESSION_BUSY"
    assert error.retry_delay_s is not None and error.retry_delay_s > 0
    # The delay in metadata too, as HTTP's headers: whole seconds, and milliseconds.
    trailing = dict(caught.value.trailing_metadata())  # type: ignore[attr-defined]
    assert int(trailing["retry-after"]) == math.ceil(error.retry_delay_s)
    assert int(trailing["retry-after-ms"]) == round(error.retry_delay_s * 1000)
    # Free again: the same call goes through.
    assert generate(gateway, "me too", session_id)[-1].HasField("turn")


# -- gRPC and HTTP: one session, one history ----------------------------------------------------


def test_one_session_continues_across_grpc_and_http(
    gateway: gw_grpc.GatewayStub, sessions: ss_grpc.SessionsStub, base_url: str
):
    session_id = generate(gateway, "first over gRPC")[0].session.session_id
    client = openai.OpenAI(base_url=base_url + "/v1", api_key=API_KEY)
    http = client.chat.completions.create(
        model="local",
        messages=[{"role": "user", "content": "second over HTTP"}],
        extra_body={"rhone": {"session_id": session_id}},
    )
    assert "This is user turn 2" in (http.choices[0].message.content or "")
    assert 'your first message was: "first over gRPC"' in (http.choices[0].message.content or "")
    third = generate(gateway, "third over gRPC", session_id)
    assert "This is user turn 3" in answer(third)

    grpc_turns = sessions.ListTurns(ss.ListTurnsRequest(session_id=session_id), metadata=A).turns
    listed = httpx.get(
        f"{base_url}/v1/sessions/{session_id}/turns",
        headers={"Authorization": f"Bearer {API_KEY}"},
    ).json()["data"]
    assert [t.id for t in grpc_turns] == [t["id"] for t in listed]
    assert [text_of(t.input[0]) for t in grpc_turns] == [
        "first over gRPC",
        "second over HTTP",
        "third over gRPC",
    ]


# -- Sessions -----------------------------------------------------------------------------------


def test_sessions_create_get_update_list_branch_delete(sessions: ss_grpc.SessionsStub, gateway):
    metadata = struct_pb2.Struct()
    metadata.update({"team": "search"})
    created = sessions.CreateSession(
        ss.CreateSessionRequest(metadata=metadata, instructions="Be brief.", default_model="local"),
        metadata=A,
    ).session
    assert created.id.startswith("sess_") and created.instructions == "Be brief."
    assert created.create_time.seconds > 0
    got = sessions.GetSession(ss.GetSessionRequest(session_id=created.id), metadata=A).session
    assert got == created

    updated = sessions.UpdateSession(
        ss.UpdateSessionRequest(
            session_id=created.id,
            session=ss.Session(instructions="Be thorough.", default_model="ignored"),
            update_mask=field_mask_pb2.FieldMask(paths=["instructions"]),
        ),
        metadata=A,
    ).session
    assert updated.instructions == "Be thorough." and updated.default_model == "local"
    assert dict(updated.metadata) == {"team": "search"}

    first = generate(gateway, "a", created.id)
    generate(gateway, "b", created.id)
    assert 'System: "Be thorough."' in answer(first)
    branch = sessions.BranchSession(
        ss.BranchSessionRequest(session_id=created.id, turn_id=first[-1].turn.turn_id), metadata=A
    ).session
    assert branch.parent_session_id == created.id
    assert branch.parent_turn_id == first[-1].turn.turn_id
    branch_turns = sessions.ListTurns(ss.ListTurnsRequest(session_id=branch.id), metadata=A)
    assert [text_of(t.input[0]) for t in branch_turns.turns] == ["a"]

    ids = {s.id for s in sessions.ListSessions(ss.ListSessionsRequest(), metadata=A).sessions}
    assert {created.id, branch.id} <= ids

    sessions.DeleteSession(ss.DeleteSessionRequest(session_id=created.id), metadata=A)
    with pytest.raises(grpc.RpcError) as caught:
        sessions.GetSession(ss.GetSessionRequest(session_id=created.id), metadata=A)
    assert rich_error(caught.value).reason == "SESSION_NOT_FOUND"


def test_list_turns_and_list_sessions_page(gateway, sessions: ss_grpc.SessionsStub):
    session_id = generate(gateway, "t1")[0].session.session_id
    for text in ("t2", "t3"):
        generate(gateway, text, session_id)
    seen: list[str] = []
    token = ""
    while True:
        page = sessions.ListTurns(
            ss.ListTurnsRequest(session_id=session_id, page_size=2, page_token=token), metadata=A
        )
        assert len(page.turns) <= 2
        seen += [text_of(t.input[0]) for t in page.turns]
        token = page.next_page_token
        if not token:
            break
    assert seen == ["t1", "t2", "t3"]

    first = sessions.ListSessions(ss.ListSessionsRequest(page_size=1), metadata=A)
    assert len(first.sessions) == 1 and first.next_page_token
    second = sessions.ListSessions(
        ss.ListSessionsRequest(page_size=1, page_token=first.next_page_token), metadata=A
    )
    assert second.sessions[0].id != first.sessions[0].id


@pytest.mark.parametrize(
    ("call", "param"),
    [
        (
            lambda s: s.ListTurns(ss.ListTurnsRequest(session_id="sess_x", page_token="!!")),
            "page_token",
        ),
        (lambda s: s.ListSessions(ss.ListSessionsRequest(page_token="zz~")), "page_token"),
        (lambda s: s.ListSessions(ss.ListSessionsRequest(page_size=101)), "page_size"),
        (lambda s: s.UpdateSession(ss.UpdateSessionRequest(session_id="sess_x")), "update_mask"),
        (
            lambda s: s.UpdateSession(
                ss.UpdateSessionRequest(
                    session_id="sess_x", update_mask=field_mask_pb2.FieldMask(paths=["id"])
                )
            ),
            "update_mask",
        ),
    ],
)
def test_bad_requests_are_invalid_argument_naming_the_field(
    sessions: ss_grpc.SessionsStub, call: Callable[[Any], Any], param: str
):
    wrapped = WithMetadata(sessions, A)
    with pytest.raises(grpc.RpcError) as caught:
        call(wrapped)
    error = rich_error(caught.value)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.metadata == {"param": param}


def test_count_tokens_and_list_models(gateway: gw_grpc.GatewayStub):
    counted = gateway.CountTokens(
        gw.CountTokensRequest(model="local", messages=[user("count these words please")]),
        metadata=A,
    )
    assert counted.input_tokens > 0
    models = gateway.ListModels(gw.ListModelsRequest(), metadata=A).models
    assert "local" in [m.id for m in models]
    assert [m.id for m in models] == sorted(m.id for m in models)
    with pytest.raises(grpc.RpcError) as caught:
        gateway.CountTokens(
            gw.CountTokensRequest(model="no-such-model", messages=[user("x")]), metadata=A
        )
    assert rich_error(caught.value).reason == "MODEL_NOT_FOUND"


# -- authentication: every public RPC -----------------------------------------------------------


class WithMetadata:
    """A stub whose every call carries `metadata` (what a client's interceptor would do)."""

    def __init__(self, stub: Any, metadata: Any) -> None:
        self._stub, self._metadata = stub, metadata

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._stub, name)

        def call(request: Any) -> Any:
            result = method(request, metadata=self._metadata, timeout=TIMEOUT)
            return list(result) if name == "Generate" else result

        return call


PUBLIC_CALLS: dict[str, Callable[[Any, Any, str, str], Any]] = {
    "Gateway.Generate": lambda g, s, sid, tid: g.Generate(
        gw.GenerateRequest(model="local", messages=[user("hi")], session_id=sid)
    ),
    "Gateway.CountTokens": lambda g, s, sid, tid: g.CountTokens(
        gw.CountTokensRequest(model="local", messages=[user("hi")])
    ),
    "Gateway.ListModels": lambda g, s, sid, tid: g.ListModels(gw.ListModelsRequest()),
    "Sessions.CreateSession": lambda g, s, sid, tid: s.CreateSession(ss.CreateSessionRequest()),
    "Sessions.GetSession": lambda g, s, sid, tid: s.GetSession(
        ss.GetSessionRequest(session_id=sid)
    ),
    "Sessions.ListSessions": lambda g, s, sid, tid: s.ListSessions(ss.ListSessionsRequest()),
    "Sessions.UpdateSession": lambda g, s, sid, tid: s.UpdateSession(
        ss.UpdateSessionRequest(
            session_id=sid,
            session=ss.Session(instructions="taken over"),
            update_mask=field_mask_pb2.FieldMask(paths=["instructions"]),
        )
    ),
    "Sessions.DeleteSession": lambda g, s, sid, tid: s.DeleteSession(
        ss.DeleteSessionRequest(session_id=sid)
    ),
    "Sessions.ListTurns": lambda g, s, sid, tid: s.ListTurns(ss.ListTurnsRequest(session_id=sid)),
    "Sessions.BranchSession": lambda g, s, sid, tid: s.BranchSession(
        ss.BranchSessionRequest(session_id=sid, turn_id=tid)
    ),
}
TAKES_AN_ID = [
    "Gateway.Generate",
    "Sessions.GetSession",
    "Sessions.UpdateSession",
    "Sessions.DeleteSession",
    "Sessions.ListTurns",
    "Sessions.BranchSession",
]


def test_every_public_rpc_is_listed_here():
    served = {
        f"{service.name}.{method.name}"
        for descriptor in (gw.DESCRIPTOR, ss.DESCRIPTOR)
        for service in descriptor.services_by_name.values()
        for method in service.methods
    }
    assert served == set(PUBLIC_CALLS)


@pytest.mark.parametrize("rpc", sorted(PUBLIC_CALLS))
@pytest.mark.parametrize(
    ("metadata", "reason"),
    [
        ((), "MISSING_API_KEY"),
        (bearer("rk-not-a-key"), "INVALID_API_KEY"),
        ((("authorization", f"Basic {API_KEY}"),), "MISSING_API_KEY"),
        ((("x-api-key", API_KEY),), "MISSING_API_KEY"),
    ],
    ids=["none", "wrong", "not-bearer", "other-header"],
)
def test_every_public_rpc_refuses_a_missing_or_wrong_key(
    gateway, sessions, a_session: tuple[str, str], rpc: str, metadata: Any, reason: str
):
    session_id, turn_id = a_session
    with pytest.raises(grpc.RpcError) as caught:
        PUBLIC_CALLS[rpc](
            WithMetadata(gateway, metadata),
            WithMetadata(sessions, metadata),
            session_id,
            turn_id,
        )
    error = rich_error(caught.value)
    assert error.code == grpc.StatusCode.UNAUTHENTICATED
    assert (error.reason, error.domain) == (reason, "rhone.dev")


@pytest.mark.parametrize("rpc", TAKES_AN_ID)
def test_another_tenants_ids_are_not_found(gateway, sessions, a_session: tuple[str, str], rpc: str):
    session_id, turn_id = a_session
    with pytest.raises(grpc.RpcError) as caught:
        PUBLIC_CALLS[rpc](WithMetadata(gateway, B), WithMetadata(sessions, B), session_id, turn_id)
    error = rich_error(caught.value)
    assert error.code == grpc.StatusCode.NOT_FOUND
    assert error.reason == "SESSION_NOT_FOUND"
    # Untouched for its owner: still there, one turn, its instructions unchanged.
    kept = sessions.GetSession(ss.GetSessionRequest(session_id=session_id), metadata=A).session
    assert kept.instructions == ""
    turns = sessions.ListTurns(ss.ListTurnsRequest(session_id=session_id), metadata=A).turns
    assert turns[0].id == turn_id


def test_another_tenants_turn_is_not_found_when_branching_ones_own_session(
    gateway, sessions, a_session: tuple[str, str]
):
    _, a_turn = a_session
    b_session = generate(gateway, "tenant B", metadata=B)[0].session.session_id
    with pytest.raises(grpc.RpcError) as caught:
        sessions.BranchSession(
            ss.BranchSessionRequest(session_id=b_session, turn_id=a_turn), metadata=B
        )
    error = rich_error(caught.value)
    assert (error.code, error.reason) == (grpc.StatusCode.NOT_FOUND, "TURN_NOT_FOUND")
    assert error.metadata == {"param": "turn_id"}
    listed = sessions.ListSessions(ss.ListSessionsRequest(page_size=100), metadata=B).sessions
    assert a_session[0] not in {s.id for s in listed}


def test_public_port_health_needs_no_key_and_reflection_is_off(channel: grpc.Channel):
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    health = health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service="rhone.api.v1.Gateway"), timeout=TIMEOUT
    )
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    with pytest.raises(grpc.RpcError) as caught:
        list(
            reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
                iter([request]), metadata=A, timeout=TIMEOUT
            )
        )
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED  # type: ignore[attr-defined]
