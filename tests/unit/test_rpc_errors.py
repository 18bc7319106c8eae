"""A peer's gRPC error as the failure a client sees: one mapping for every caller."""

from __future__ import annotations

import grpc
import pytest

from rhone.rpc_errors import ERROR_DETAIL_KEY, detail_of, failure_of_rpc
from rhone.v1 import generation_pb2 as gen


def rpc_error(code: grpc.StatusCode, details: str, detail: str = "") -> grpc.aio.AioRpcError:
    trailing = grpc.aio.Metadata((ERROR_DETAIL_KEY, detail)) if detail else grpc.aio.Metadata()
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), trailing, details)


def test_the_detail_the_peer_names_decides_code_and_param() -> None:
    exc = rpc_error(grpc.StatusCode.NOT_FOUND, "No turn 9.", "turn_not_found")
    failure = failure_of_rpc(exc, service="sessions", params={"turn_not_found": "at_turn"})
    assert failure.code == gen.ERROR_CODE_NOT_FOUND
    assert (failure.message, failure.detail, failure.param) == (
        "No turn 9.",
        "turn_not_found",
        "at_turn",
    )
    assert detail_of(exc) == "turn_not_found"


def test_a_status_without_a_detail_gets_the_callers_default() -> None:
    exc = rpc_error(grpc.StatusCode.NOT_FOUND, "No session.")
    failure = failure_of_rpc(
        exc, service="sessions", details={grpc.StatusCode.NOT_FOUND: "session_not_found"}
    )
    assert failure.detail == "session_not_found"
    busy = failure_of_rpc(rpc_error(grpc.StatusCode.ABORTED, "Busy."), service="sessions")
    assert (busy.code, busy.detail) == (gen.ERROR_CODE_CONFLICT, "session_busy")


@pytest.mark.parametrize("status", [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED])
def test_a_peer_down_or_late_is_a_plain_503(status: grpc.StatusCode) -> None:
    failure = failure_of_rpc(rpc_error(status, "connect: 127.0.0.1:1 refused"), service="sessions")
    assert failure.code == gen.ERROR_CODE_UNAVAILABLE
    assert failure.message == "The sessions service is unavailable."


def test_internal_details_never_reach_the_client() -> None:
    exc = rpc_error(grpc.StatusCode.INTERNAL, "Exception calling application: KeyError('x')")
    failure = failure_of_rpc(exc, service="providers")
    assert failure.code == gen.ERROR_CODE_INTERNAL
    assert failure.message == "The providers service failed."


@pytest.mark.parametrize(
    "status", [grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED]
)
def test_a_refused_service_identity_is_never_the_clients_credential_error(
    status: grpc.StatusCode,
) -> None:
    """Unnamed, these are the peer refusing this service (service identity): a deployment
    fault, which the client sees as the service failing, never as its own key."""
    refused = rpc_error(status, "This is an internal Rhone service: calls need a service identity.")
    failure = failure_of_rpc(refused, service="sessions")
    assert failure.code == gen.ERROR_CODE_INTERNAL
    assert failure.message == "The sessions service failed."
    named = failure_of_rpc(
        rpc_error(status, "Incorrect API key provided.", "invalid_api_key"), service="sessions"
    )
    assert named.code in (gen.ERROR_CODE_AUTHENTICATION, gen.ERROR_CODE_PERMISSION)
    assert named.detail == "invalid_api_key"
    admin = failure_of_rpc(refused, service="sessions", details={status: "invalid_admin_key"})
    assert admin.detail == "invalid_admin_key"
