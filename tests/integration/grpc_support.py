"""What the gRPC API tests share: channels to a running cluster, requests, and reading the
rich error details (google.rpc.Status) a public RPC fails with."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from rhone.v1 import content_pb2 as content


@dataclass(frozen=True)
class RichError:
    code: grpc.StatusCode
    message: str
    reason: str
    domain: str
    metadata: dict[str, str]
    retry_delay_s: float | None


def rich_error(error: grpc.RpcError) -> RichError:
    """The status, ErrorInfo and RetryInfo a failed call carries (the status must have them)."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, f"no google.rpc.Status in {error}"
    info = error_details_pb2.ErrorInfo()
    retry: float | None = None
    found = False
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            detail.Unpack(info)
            found = True
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            unpacked = error_details_pb2.RetryInfo()
            detail.Unpack(unpacked)
            retry = unpacked.retry_delay.ToTimedelta().total_seconds()
    assert found, f"no ErrorInfo in {status}"
    return RichError(
        error.code(),  # type: ignore[attr-defined]
        status.message,
        info.reason,
        info.domain,
        dict(info.metadata),
        retry,
    )


def user(text: str) -> content.Message:
    return content.Message(
        role=content.ROLE_USER, parts=[content.Part(text=content.TextPart(text=text))]
    )


def text_of(message: content.Message) -> str:
    return "".join(part.text.text for part in message.parts if part.HasField("text"))


def bearer(key: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {key}"),)
