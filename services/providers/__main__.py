"""python -m services.providers: the providers service."""

from __future__ import annotations

import os

import uvloop

from rhone.runtime.cpu_policy import apply_cpu_policy
from rhone.runtime.grpc_server import serve
from rhone.runtime.logs import configure_logging
from rhone.runtime.settings import ServingSettings
from rhone.v1 import providers_pb2, providers_pb2_grpc
from services.providers.config import ProvidersSettings
from services.providers.connectors.anthropic import AnthropicConnector
from services.providers.connectors.gemini import GeminiConnector
from services.providers.connectors.http import ClientPool
from services.providers.connectors.local import LocalConnector
from services.providers.connectors.openai import OpenAIChatConnector
from services.providers.connectors.openai_compatible import OpenAICompatibleConnector
from services.providers.connectors.openai_responses import OpenAIResponsesConnector
from services.providers.connectors.vertex import VertexConnector
from services.providers.connectors.vertex_auth import VertexTokens
from services.providers.failover import Connector
from services.providers.routing import OPENAI_COMPATIBLE, OPENAI_RESPONSES, Router
from services.providers.routing_config import load_routing_config
from services.providers.servicer import ProviderServicer


def build_connectors(settings: ProvidersSettings, pool: ClientPool) -> dict[str, Connector]:
    """Every connector, keyed as deployments name them. Building one does no I/O, so all
    exist; routing decides which are reachable (those whose key is set)."""
    tokens = VertexTokens(settings.vertex_access_token)
    return {
        "local": LocalConnector(settings.local_token_delay_ms, settings.local_context_window),
        "openai": OpenAIChatConnector(pool),
        OPENAI_RESPONSES: OpenAIResponsesConnector(pool),
        OPENAI_COMPATIBLE: OpenAICompatibleConnector(pool),
        "anthropic": AnthropicConnector(pool),
        "gemini": GeminiConnector(pool),
        "vertex": VertexConnector(
            pool,
            project=settings.vertex_project,
            location=settings.vertex_location,
            tokens=tokens,
        ),
    }


async def main() -> None:
    log = configure_logging("providers")
    apply_cpu_policy(ServingSettings().cpu_policy)
    settings = ProvidersSettings()
    # A malformed routing config stops the service here, with the place it is wrong.
    router = Router(settings, load_routing_config(settings.routing_config), dict(os.environ))
    pool = ClientPool()
    servicer = ProviderServicer(settings, build_connectors(settings, pool), router)
    log.info("models routable: %s", ", ".join(model for model, _ in router.models()))
    await serve(
        name="providers",
        listen=settings.listen,
        register=lambda server: providers_pb2_grpc.add_ProviderServiceServicer_to_server(
            servicer, server
        ),
        service_names=[providers_pb2.DESCRIPTOR.services_by_name["ProviderService"].full_name],
        on_stop=pool.aclose,
    )


if __name__ == "__main__":
    uvloop.run(main())
