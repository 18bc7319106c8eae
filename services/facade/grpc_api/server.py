"""The facade's public gRPC server: Gateway and Sessions on RHONE_GRPC_LISTEN, in the facade's
own event loop next to the HTTP app. Every call is authenticated by API key (auth.py); with
the TLS settings set, the port serves TLS with the service's certificate (callers verify it
against RHONE_TLS_CA; no client certificate is asked for)."""

from __future__ import annotations

import grpc

from rhone.api.v1 import gateway_pb2, gateway_pb2_grpc, sessions_pb2, sessions_pb2_grpc
from rhone.runtime.grpc_server import start_server
from rhone.runtime.interceptors import public_server_interceptors
from rhone.runtime.service_identity import ServiceIdentity
from services.facade.grpc_api.auth import ApiKeyInterceptor
from services.facade.grpc_api.gateway import GatewayServicer
from services.facade.grpc_api.sessions import SessionsServicer
from services.facade.state import FacadeState

SERVICE_NAMES = [
    gateway_pb2.DESCRIPTOR.services_by_name["Gateway"].full_name,
    sessions_pb2.DESCRIPTOR.services_by_name["Sessions"].full_name,
]


async def start_public_api(listen: str, state: FacadeState) -> grpc.aio.Server:
    identity = ServiceIdentity.from_settings()

    def register(server: grpc.aio.Server) -> None:
        gateway_pb2_grpc.add_GatewayServicer_to_server(
            GatewayServicer(state.translator, state.metering), server
        )
        sessions_pb2_grpc.add_SessionsServicer_to_server(SessionsServicer(state.sessions), server)

    server, _ = await start_server(
        name="facade gRPC API",
        listen=listen,
        register=register,
        service_names=SERVICE_NAMES,
        interceptors=public_server_interceptors(ApiKeyInterceptor(state.auth)),
        credentials=identity.server_credentials(require_client_cert=False)
        if identity.tls
        else None,
        reflect=identity.reflection,
    )
    return server
