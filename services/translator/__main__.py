"""python -m services.translator: the call engine."""

from __future__ import annotations

import uvloop

from rhone.runtime.channels import open_channel
from rhone.runtime.cpu_policy import apply_cpu_policy
from rhone.runtime.grpc_server import serve
from rhone.runtime.logs import configure_logging
from rhone.runtime.settings import ServingSettings
from rhone.v1 import providers_pb2_grpc, sessions_pb2_grpc, translator_pb2, translator_pb2_grpc
from services.translator.compaction.compactor import Compactor
from services.translator.compaction.sealing import CompactionSeal
from services.translator.config import TranslatorSettings
from services.translator.context_cache import open_context_cache
from services.translator.context_fit import ContextFitter
from services.translator.servicer import TranslatorServicer
from services.translator.turns import TurnRunner


async def main() -> None:
    configure_logging("translator")
    apply_cpu_policy(ServingSettings().cpu_policy)
    settings = TranslatorSettings()
    sessions_channel = open_channel(settings.sessions_addr)
    providers_channel = open_channel(settings.providers_addr)
    providers = providers_pb2_grpc.ProviderServiceStub(providers_channel)
    runner = TurnRunner(
        sessions_pb2_grpc.SessionServiceStub(sessions_channel),
        providers,
    )
    compactor = Compactor(
        providers,
        CompactionSeal.from_setting(settings.compaction_secret),
        settings.compaction_model,
    )
    runner.fitter = ContextFitter(providers, compactor)
    runner.contexts = open_context_cache(settings)

    async def close_channels() -> None:
        await sessions_channel.close()
        await providers_channel.close()

    await serve(
        name="translator",
        listen=settings.listen,
        register=lambda server: translator_pb2_grpc.add_TranslatorServiceServicer_to_server(
            TranslatorServicer(runner, compactor), server
        ),
        service_names=[translator_pb2.DESCRIPTOR.services_by_name["TranslatorService"].full_name],
        on_stop=close_channels,
    )


if __name__ == "__main__":
    uvloop.run(main())
