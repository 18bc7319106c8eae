"""Public gRPC errors in the richer error model: a status code, and a google.rpc.Status in the
`grpc-status-details-bin` trailer with an ErrorInfo (reason, domain rhone.dev, metadata) and a
RetryInfo when retrying the same call can succeed (https://google.aip.dev/193). Such a call's
trailing metadata also hold `retry-after` (seconds) and `retry-after-ms`, as the HTTP surfaces'
headers do, for callers that read metadata rather than status details.

Every failure is a canonical Failure first (rhone/errors.py), the same one the HTTP surfaces
render, so gRPC and HTTP callers are told the same thing in their own shapes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import NoReturn

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from rhone.errors import Code
from rhone.v1 import generation_pb2 as gen
from services.facade.ratelimit_headers import retry_headers

DOMAIN = "rhone.dev"
# A call that may be retried as it is waits this long when the failure says nothing better.
DEFAULT_RETRY_DELAY_MS = 1_000

_STATUS_OF: dict[int, grpc.StatusCode] = {
    Code.ERROR_CODE_INVALID_REQUEST: grpc.StatusCode.INVALID_ARGUMENT,
    Code.ERROR_CODE_AUTHENTICATION: grpc.StatusCode.UNAUTHENTICATED,
    Code.ERROR_CODE_PERMISSION: grpc.StatusCode.PERMISSION_DENIED,
    Code.ERROR_CODE_NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    Code.ERROR_CODE_CONFLICT: grpc.StatusCode.ABORTED,
    Code.ERROR_CODE_REQUEST_TOO_LARGE: grpc.StatusCode.INVALID_ARGUMENT,
    Code.ERROR_CODE_RATE_LIMITED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    Code.ERROR_CODE_INTERNAL: grpc.StatusCode.INTERNAL,
    Code.ERROR_CODE_OVERLOADED: grpc.StatusCode.UNAVAILABLE,
    Code.ERROR_CODE_TIMEOUT: grpc.StatusCode.DEADLINE_EXCEEDED,
    Code.ERROR_CODE_UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    Code.ERROR_CODE_CANCELLED: grpc.StatusCode.CANCELLED,
}
# Failures a retry of the very same call can get past even though they are not the
# provider's transient kind: the session is free again once the other call ends.
_RETRY_HELPS = frozenset({"session_busy"})
_REASON = re.compile(r"[^A-Z0-9_]+")


def status_code_of(failure: gen.Failure) -> grpc.StatusCode:
    return _STATUS_OF.get(failure.code, grpc.StatusCode.INTERNAL)


def reason_of(failure: gen.Failure) -> str:
    """ErrorInfo.reason: the failure's detail in UPPER_SNAKE_CASE (session_busy ->
    SESSION_BUSY), else its code's name (ERROR_CODE_NOT_FOUND -> NOT_FOUND)."""
    if failure.detail:
        reason = _REASON.sub("_", failure.detail.upper()).strip("_")
    else:
        reason = Code.Name(failure.code).removeprefix("ERROR_CODE_")
    return reason[:63] or "UNSPECIFIED"


def retry_delay_ms(failure: gen.Failure) -> int:
    """How long to wait before retrying the very same call; 0 when a retry cannot help."""
    if failure.retryable or failure.detail in _RETRY_HELPS:
        return failure.retry_after_ms or DEFAULT_RETRY_DELAY_MS
    return 0


def rich_status(failure: gen.Failure) -> grpc.Status:
    code = status_code_of(failure)
    metadata = {"param": failure.param} if failure.param else {}
    details = [
        error_details_pb2.ErrorInfo(reason=reason_of(failure), domain=DOMAIN, metadata=metadata)
    ]
    if delay_ms := retry_delay_ms(failure):
        details.append(
            error_details_pb2.RetryInfo(
                retry_delay=duration_pb2.Duration(
                    seconds=delay_ms // 1000, nanos=(delay_ms % 1000) * 1_000_000
                )
            )
        )
    packed = []
    for detail in details:
        item = any_pb2.Any()
        item.Pack(detail)
        packed.append(item)
    status = status_pb2.Status(
        code=getattr(code_pb2, code.name), message=failure.message, details=packed
    )
    return rpc_status.to_status(status)


async def abort_with(
    context: grpc.aio.ServicerContext,
    failure: gen.Failure,
    metadata: Mapping[str, str] | None = None,
) -> NoReturn:
    """Ends the RPC with the failure's status, its retry delay and `metadata` (a refusal's
    rate-limit state) in the trailing metadata."""
    status = rich_status(failure)
    extra = retry_headers(delay_ms) if (delay_ms := retry_delay_ms(failure)) else {}
    extra.update(metadata or {})
    await context.abort(
        status.code,
        status.details,
        trailing_metadata=(*status.trailing_metadata, *extra.items()),
    )
    raise AssertionError("abort returns by raising")  # pragma: no cover
