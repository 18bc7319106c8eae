"""python -m services.providers: the providers service."""

from __future__ import annotations

import uvloop

from rhone.runtime.grpc_server import serve
from rhone.runtime.logs import configure_logging
from rhone.v1 import providers_pb2, providers_pb2_grpc
from services.providers.config import ProvidersSettings
from services.providers.connectors.http import ClientPool
from services.providers.connectors.local import LocalConnector
from services.providers.connectors.openai import OpenAIChatConnector
from services.providers.failover import Connector
from services.providers.servicer import ProviderServicer


async def main() -> None:
    log = configure_logging("providers")
    settings = ProvidersSettings()
    pool = ClientPool()
    connectors: dict[str, Connector] = {
        "local": LocalConnector(settings.local_token_delay_ms),
        "openai": OpenAIChatConnector(pool),
    }
    enabled = ["local"] + (
        ["openai"] if settings.openai_api_key or settings.openai_base_url else []
    )
    log.info("providers enabled: %s", ", ".join(enabled))
    servicer = ProviderServicer(settings, connectors)
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
