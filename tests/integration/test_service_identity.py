"""Service identity on the internal gRPC ports: without it, no call reaches a servicer, even
from this machine; with mTLS, a certificate the deployment's CA did not sign cannot even
complete the handshake. Reflection is off unless a setting turns it on."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import openai
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from rhone.api.v1 import gateway_pb2 as gw
from rhone.api.v1 import gateway_pb2_grpc as gw_grpc
from rhone.launcher import Cluster, Ports
from rhone.runtime.certs import LocalCa
from rhone.v1 import generation_pb2 as gen
from rhone.v1 import providers_pb2 as ppb
from rhone.v1 import providers_pb2_grpc as ppb_grpc
from rhone.v1 import sessions_pb2 as spb
from rhone.v1 import sessions_pb2_grpc as spb_grpc
from rhone.v1 import tenancy_pb2 as tnpb
from rhone.v1 import tenancy_pb2_grpc as tnpb_grpc
from rhone.v1 import translator_pb2 as tpb
from rhone.v1 import translator_pb2_grpc as tpb_grpc
from tests.integration.conftest import API_KEY
from tests.integration.grpc_support import bearer, user

TIMEOUT = 10
Call = Callable[[grpc.Channel, Any], Any]

# One RPC of each kind per internal service, each one that would read or act for a tenant.
INTERNAL_CALLS: dict[str, tuple[str, Call]] = {
    "TenancyService.ResolveKey": (
        "sessions",
        lambda ch, md: tnpb_grpc.TenancyServiceStub(ch).ResolveKey(
            tnpb.ResolveKeyRequest(api_key=API_KEY), metadata=md, timeout=TIMEOUT
        ),
    ),
    "SessionService.ListSessions": (
        "sessions",
        lambda ch, md: spb_grpc.SessionServiceStub(ch).ListSessions(
            spb.ListSessionsRequest(tenant_id="default"), metadata=md, timeout=TIMEOUT
        ),
    ),
    "TranslatorService.Generate": (
        "translator",
        lambda ch, md: list(
            tpb_grpc.TranslatorServiceStub(ch).Generate(
                tpb.TranslatorGenerateRequest(
                    tenant_id="default",
                    request=gen.GenerateRequest(model="local", messages=[user("hi")]),
                ),
                metadata=md,
                timeout=TIMEOUT,
            )
        ),
    ),
    "TranslatorService.Call": (
        "translator",
        lambda ch, md: list(
            tpb_grpc.TranslatorServiceStub(ch).Call(
                tpb.CallRequest(tenant_id="default"), metadata=md, timeout=TIMEOUT
            )
        ),
    ),
    "ProviderService.Generate": (
        "providers",
        lambda ch, md: list(
            ppb_grpc.ProviderServiceStub(ch).Generate(
                gen.GenerateRequest(model="local", messages=[user("hi")]),
                metadata=md,
                timeout=TIMEOUT,
            )
        ),
    ),
    "ProviderService.ListModels": (
        "providers",
        lambda ch, md: ppb_grpc.ProviderServiceStub(ch).ListModels(
            ppb.ListModelsRequest(), metadata=md, timeout=TIMEOUT
        ),
    ),
}


def _port(cluster: Cluster, service: str) -> int:
    return int(getattr(cluster.ports, service))


@pytest.mark.parametrize("rpc", sorted(INTERNAL_CALLS))
@pytest.mark.parametrize(
    "metadata",
    [(), (("rhone-service-token", "not-the-token"),), bearer(API_KEY)],
    ids=["none", "wrong-token", "api-key"],
)
def test_an_internal_rpc_without_service_identity_is_unauthenticated(
    cluster: Cluster, rpc: str, metadata: Any
):
    service, call = INTERNAL_CALLS[rpc]
    with grpc.insecure_channel(f"127.0.0.1:{_port(cluster, service)}") as channel:
        with pytest.raises(grpc.RpcError) as caught:
            call(channel, metadata)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED  # type: ignore[attr-defined]
    assert "service identity" in (caught.value.details() or "")  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "rpc",
    ["TenancyService.ResolveKey", "TranslatorService.Generate", "ProviderService.Generate"],
)
def test_the_same_rpc_with_the_service_token_is_served(cluster: Cluster, rpc: str):
    service, call = INTERNAL_CALLS[rpc]
    with grpc.insecure_channel(f"127.0.0.1:{_port(cluster, service)}") as channel:
        reply = call(channel, cluster.service_metadata())
    if service == "translator":
        assert reply[-1].turn_id.startswith("turn_")
    elif service == "providers":
        assert reply[-1].HasField("finished")
    else:
        assert reply.tenant_id == "default"


@pytest.mark.parametrize("service", ["translator", "sessions", "providers"])
def test_health_answers_without_identity_and_reflection_is_off(cluster: Cluster, service: str):
    with grpc.insecure_channel(f"127.0.0.1:{_port(cluster, service)}") as channel:
        health = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=TIMEOUT
        )
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(grpc.RpcError) as caught:
            _list_services(channel, cluster.service_metadata())
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED  # type: ignore[attr-defined]


def _list_services(channel: grpc.Channel, metadata: Any) -> list[str]:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    replies = stub.ServerReflectionInfo(iter([request]), metadata=metadata, timeout=TIMEOUT)
    return [s.name for reply in replies for s in reply.list_services_response.service]


# -- mTLS ---------------------------------------------------------------------------------------


class Certs:
    def __init__(self, root: Path) -> None:
        self.ca = LocalCa()
        self.root = root
        issued = self.ca.issue("local")
        (root / "ca.pem").write_bytes(self.ca.cert_pem)
        (root / "service.pem").write_bytes(issued.cert_pem)
        (root / "service-key.pem").write_bytes(issued.key_pem)
        self.cert, self.key = issued.cert_pem, issued.key_pem
        # What an attacker on the network can make: a CA of its own, and a certificate with
        # the very same names.
        self.rogue_ca = LocalCa("Rhone local CA")
        rogue = self.rogue_ca.issue("local")
        self.rogue_cert, self.rogue_key = rogue.cert_pem, rogue.key_pem


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, Certs]]:
    root = tmp_path_factory.mktemp("rhone-tls")
    certs = Certs(root)
    cluster = Cluster(
        Ports.free(),
        env={
            "RHONE_API_KEY": API_KEY,
            "RHONE_DATABASE_URL": f"sqlite:///{root}/rhone.db",
            # mTLS alone: no service token.
            "RHONE_SERVICE_TOKEN": "",
            "RHONE_TLS_CA": str(root / "ca.pem"),
            "RHONE_TLS_CERT": str(root / "service.pem"),
            "RHONE_TLS_KEY": str(root / "service-key.pem"),
            "RHONE_GRPC_REFLECTION": "true",
        },
        log_dir=Path(os.environ.get("RHONE_TEST_LOGS", root / "logs")),
    )
    cluster.start()
    try:
        cluster.wait_ready(60)
        yield cluster, certs
    finally:
        cluster.stop()


def _resolve(channel: grpc.Channel) -> str:
    stub = tnpb_grpc.TenancyServiceStub(channel)
    return str(stub.ResolveKey(tnpb.ResolveKeyRequest(api_key=API_KEY), timeout=5).tenant_id)


def test_services_talk_over_mtls_and_serve_http_and_public_grpc(
    tls_cluster: tuple[Cluster, Certs],
):
    cluster, certs = tls_cluster
    client = openai.OpenAI(base_url=cluster.base_url + "/v1", api_key=API_KEY)
    reply = client.chat.completions.create(
        model="local", messages=[{"role": "user", "content": "over mTLS"}]
    )
    assert 'You said: "over mTLS"' in (reply.choices[0].message.content or "")
    # The public port serves TLS with the service certificate, and asks for no client one.
    credentials = grpc.ssl_channel_credentials(root_certificates=certs.ca.cert_pem)
    with grpc.secure_channel(f"127.0.0.1:{cluster.ports.grpc}", credentials) as channel:
        stream = list(
            gw_grpc.GatewayStub(channel).Generate(
                gw.GenerateRequest(model="local", messages=[user("hi")]),
                metadata=bearer(API_KEY),
                timeout=TIMEOUT,
            )
        )
    assert stream[-1].HasField("turn")


def test_a_client_with_the_deployments_certificate_is_served(tls_cluster: tuple[Cluster, Certs]):
    cluster, certs = tls_cluster
    credentials = grpc.ssl_channel_credentials(certs.ca.cert_pem, certs.key, certs.cert)
    with grpc.secure_channel(f"127.0.0.1:{cluster.ports.sessions}", credentials) as channel:
        assert _resolve(channel) == "default"
        # Reflection, turned on by RHONE_GRPC_REFLECTION, for identified callers.
        assert "rhone.v1.SessionService" in _list_services(channel, ())


@pytest.mark.parametrize("service", ["translator", "sessions", "providers"])
@pytest.mark.parametrize(
    "client", ["rogue-certificate", "no-certificate", "plaintext", "trusts-another-ca"]
)
def test_the_handshake_fails_without_the_deployments_certificate(
    tls_cluster: tuple[Cluster, Certs], service: str, client: str
):
    cluster, certs = tls_cluster
    target = f"127.0.0.1:{_port(cluster, service)}"
    if client == "plaintext":
        channel = grpc.insecure_channel(target)
    else:
        credentials = {
            "rogue-certificate": lambda: grpc.ssl_channel_credentials(
                certs.ca.cert_pem, certs.rogue_key, certs.rogue_cert
            ),
            "no-certificate": lambda: grpc.ssl_channel_credentials(certs.ca.cert_pem),
            # The right client certificate, but the server's is not trusted: the client
            # refuses (an impostor server learns nothing either).
            "trusts-another-ca": lambda: grpc.ssl_channel_credentials(
                certs.rogue_ca.cert_pem, certs.key, certs.cert
            ),
        }[client]()
        channel = grpc.secure_channel(target, credentials)
    with channel, pytest.raises(grpc.RpcError) as caught:
        health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    # No handshake, no call at all: not even health answers.
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]


@pytest.mark.parametrize("service", ["translator", "sessions", "providers"])
def test_a_service_without_an_identity_does_not_start(service: str, tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RHONE_")}
    env["RHONE_DATABASE_URL"] = f"sqlite:///{tmp_path}/rhone.db"
    result = subprocess.run(
        [sys.executable, "-m", f"services.{service}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "set RHONE_SERVICE_TOKEN, or RHONE_TLS_CERT" in result.stderr
