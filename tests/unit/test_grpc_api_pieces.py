"""The pure pieces of the gRPC API: service identity settings, the rich error status, the
ListTurns page token, UpdateSession's mask, Generate's extras, and the released protos buf
breaking uses."""

from __future__ import annotations

import subprocess
from pathlib import Path

import grpc
import pytest
from google.protobuf import field_mask_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from rhone.api.v1 import gateway_pb2 as gateway
from rhone.api.v1 import sessions_pb2 as api
from rhone.errors import Code, RhoneError, make_failure
from rhone.jsonutil import struct_from_dict
from rhone.runtime.certs import LocalCa
from rhone.runtime.service_identity import (
    IdentityError,
    IdentitySettings,
    ServiceIdentity,
    token_matches,
)
from services.facade.grpc_api.errors import rich_status
from services.facade.grpc_api.gateway import generate_request
from services.facade.grpc_api.sessions import turns_after, turns_token, update_request

ROOT = Path(__file__).resolve().parents[2]
RELEASED = "3e11ca1"


def test_no_identity_is_refused_with_what_to_set():
    with pytest.raises(IdentityError, match="RHONE_SERVICE_TOKEN"):
        ServiceIdentity.from_settings(IdentitySettings(service_token=""))


def test_tls_settings_come_together_and_their_files_must_exist(tmp_path: Path):
    with pytest.raises(IdentityError, match="together"):
        ServiceIdentity.from_settings(IdentitySettings(tls_cert="a.pem"))
    with pytest.raises(IdentityError, match="cannot read TLS file"):
        ServiceIdentity.from_settings(
            IdentitySettings(tls_cert="/nonexistent/c", tls_key="k", tls_ca="ca")
        )
    ca = LocalCa()
    issued = ca.issue("sessions")
    for name, data in (("ca", ca.cert_pem), ("c", issued.cert_pem), ("k", issued.key_pem)):
        (tmp_path / name).write_bytes(data)
    identity = ServiceIdentity.from_settings(
        IdentitySettings(
            tls_cert=str(tmp_path / "c"), tls_key=str(tmp_path / "k"), tls_ca=str(tmp_path / "ca")
        )
    )
    assert identity.tls is not None and identity.token == "" and identity.metadata() == ()


def test_token_matches_only_the_exact_token():
    assert token_matches("s3cret-token", (("rhone-service-token", "s3cret-token"),))
    assert token_matches("s3cret-token", (("rhone-service-token", b"s3cret-token"),))
    assert not token_matches("s3cret-token", (("rhone-service-token", "s3cret-tokeN"),))
    assert not token_matches("s3cret-token", (("authorization", "Bearer s3cret-token"),))
    assert not token_matches("s3cret-token", None)


def _details(status: grpc.Status) -> tuple[error_details_pb2.ErrorInfo, float | None]:
    decoded = rpc_status.from_call(  # type: ignore[arg-type]
        type(
            "Call",
            (),
            {
                "trailing_metadata": lambda self: status.trailing_metadata,
                "code": lambda self: status.code,
                "details": lambda self: status.details,
            },
        )()
    )
    assert decoded is not None
    info, retry = error_details_pb2.ErrorInfo(), None
    for detail in decoded.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            detail.Unpack(info)
        else:
            unpacked = error_details_pb2.RetryInfo()
            assert detail.Unpack(unpacked)
            retry = unpacked.retry_delay.ToTimedelta().total_seconds()
    return info, retry


@pytest.mark.parametrize(
    ("failure", "code", "reason", "retry"),
    [
        (
            make_failure(Code.ERROR_CODE_CONFLICT, "busy", detail="session_busy"),
            grpc.StatusCode.ABORTED,
            "SESSION_BUSY",
            1.0,
        ),
        (
            make_failure(Code.ERROR_CODE_NOT_FOUND, "no", detail="model_not_found", param="model"),
            grpc.StatusCode.NOT_FOUND,
            "MODEL_NOT_FOUND",
            None,
        ),
        (
            make_failure(Code.ERROR_CODE_RATE_LIMITED, "slow down", retry_after_ms=2500),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "RATE_LIMITED",
            2.5,
        ),
        (
            make_failure(Code.ERROR_CODE_AUTHENTICATION, "no key", detail="missing_api_key"),
            grpc.StatusCode.UNAUTHENTICATED,
            "MISSING_API_KEY",
            None,
        ),
    ],
)
def test_rich_status(failure, code: grpc.StatusCode, reason: str, retry: float | None):
    status = rich_status(failure)
    assert status.code == code and status.details == failure.message
    info, delay = _details(status)
    assert (info.reason, info.domain) == (reason, "rhone.dev")
    assert dict(info.metadata) == ({"param": failure.param} if failure.param else {})
    assert delay == retry


def test_turns_page_token_round_trips_and_refuses_anything_else():
    assert turns_after("") == 0
    assert turns_after(turns_token(41)) == 41
    for bad in ("!!", "dHVybnM6", turns_token(1)[:-3], "c2Vzc2lvbnM6MQ=="):
        with pytest.raises(RhoneError) as caught:
            turns_after(bad)
        assert caught.value.failure.param == "page_token"


def test_update_request_sets_only_masked_fields():
    request = api.UpdateSessionRequest(
        session_id="sess_1",
        session=api.Session(instructions="", default_model="m", metadata=None),
        update_mask=field_mask_pb2.FieldMask(paths=["instructions"]),
    )
    internal = update_request("t", request)
    assert internal.HasField("instructions") and list(internal.instructions.messages) == []
    assert not internal.HasField("metadata") and not internal.HasField("default_model")
    with pytest.raises(RhoneError, match="only metadata"):
        update_request(
            "t", api.UpdateSessionRequest(update_mask=field_mask_pb2.FieldMask(paths=["version"]))
        )


@pytest.mark.parametrize(
    "dialect",
    ["openai.chat", "openai.responses", "anthropic.messages", "google.gemini", "google.vertex"],
)
def test_extras_travel_in_any_dialect_an_upstream_speaks(dialect: str):
    extras = struct_from_dict({"knob": 1})
    request = gateway.GenerateRequest(model="m", extras=extras, extras_dialect=dialect)
    internal = generate_request("t", request).request
    assert (internal.extras, internal.extras_dialect) == (extras, dialect)


@pytest.mark.parametrize("dialect", ["", "gemini", "openai"])
def test_extras_in_no_dialects_words_are_refused(dialect: str):
    request = gateway.GenerateRequest(
        model="m", extras=struct_from_dict({"knob": 1}), extras_dialect=dialect
    )
    with pytest.raises(RhoneError) as caught:
        generate_request("t", request)
    assert caught.value.failure.param == "extras_dialect"
    assert "google.gemini" in caught.value.failure.message


def test_the_released_protos_fixture_is_commit_3e11ca1():
    """buf breaking compares against this copy (it works in a shallow clone too); it must be
    exactly what was released."""
    fixture = ROOT / "tests" / "fixtures" / "released_proto"
    listed = subprocess.run(
        ["git", "ls-tree", "-r", "--name-only", RELEASED, "proto/"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if listed.returncode != 0:
        pytest.skip(f"commit {RELEASED} is not in this clone's history")
    names = listed.stdout.split()
    assert sorted(str(p.relative_to(fixture)) for p in fixture.rglob("*.proto")) == sorted(
        name.removeprefix("proto/") for name in names
    )
    for name in names:
        released = subprocess.run(
            ["git", "show", f"{RELEASED}:{name}"], cwd=ROOT, capture_output=True, check=True
        ).stdout
        assert (fixture / name.removeprefix("proto/")).read_bytes() == released
