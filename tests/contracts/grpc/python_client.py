"""A Python client of Rhone's public gRPC API that uses only the published stubs (the
rhone.api.v1 and rhone.v1 modules of the package) with grpcio and googleapis-common-protos,
as docs/grpc.md shows. tests/integration/test_grpc_contract.py runs it in a directory holding
nothing of Rhone but those stub files.

Usage: RHONE_GRPC_TARGET=127.0.0.1:50060 RHONE_API_KEY=... python python_client.py"""

from __future__ import annotations

import json
import os
import sys

import grpc
from google.rpc import error_details_pb2, status_pb2

from rhone.api.v1 import gateway_pb2, gateway_pb2_grpc, sessions_pb2, sessions_pb2_grpc
from rhone.v1 import content_pb2

TARGET = os.environ["RHONE_GRPC_TARGET"]
METADATA = (("authorization", f"Bearer {os.environ['RHONE_API_KEY']}"),)


def user(text: str) -> content_pb2.Message:
    return content_pb2.Message(
        role=content_pb2.ROLE_USER, parts=[content_pb2.Part(text=content_pb2.TextPart(text=text))]
    )


def generate(stub: gateway_pb2_grpc.GatewayStub, text: str, session_id: str = "") -> dict:
    """One call: the session, the answer's text, the turn; in the order the stream gave them."""
    result: dict = {"order": [], "text": ""}
    request = gateway_pb2.GenerateRequest(
        model="local", messages=[user(text)], session_id=session_id
    )
    for message in stub.Generate(request, metadata=METADATA, timeout=30):
        kind = message.WhichOneof("kind")
        result["order"].append(kind if kind != "event" else message.event.WhichOneof("event"))
        if kind == "session":
            result["session_id"] = message.session.session_id
        elif kind == "event" and message.event.HasField("part_delta"):
            result["text"] += message.event.part_delta.text
        elif kind == "turn":
            result["turn_id"] = message.turn.turn_id
    return result


def error_reason(error: grpc.RpcError) -> str:
    """ErrorInfo.reason from the google.rpc.Status trailer."""
    for key, value in error.trailing_metadata() or ():  # type: ignore[attr-defined]
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                info = error_details_pb2.ErrorInfo()
                if detail.Unpack(info):
                    return info.reason
    return ""


def main() -> None:
    with grpc.insecure_channel(TARGET) as channel:
        gateway = gateway_pb2_grpc.GatewayStub(channel)
        sessions = sessions_pb2_grpc.SessionsStub(channel)
        first = generate(gateway, "hello from python")
        second = generate(gateway, "again from python", first["session_id"])
        turns = sessions.ListTurns(
            sessions_pb2.ListTurnsRequest(session_id=first["session_id"]), metadata=METADATA
        ).turns
        try:
            sessions.GetSession(
                sessions_pb2.GetSessionRequest(session_id="sess_0000"), metadata=METADATA
            )
            reason = "none"
        except grpc.RpcError as error:
            reason = error_reason(error)
    json.dump(
        {
            "first": first,
            "second": second,
            "turn_ids": [t.id for t in turns],
            "turn_inputs": [t.input[0].parts[0].text.text for t in turns],
            "unknown_session_reason": reason,
            "loaded_from": sys.modules["rhone"].__file__,
            "services_loaded": any(name.startswith("services") for name in sys.modules),
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
