"""What the facade's routes share: the peers' channels and stubs, the authenticator, the relay."""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from rhone.observability import metrics
from rhone.pricing import load_price_table
from rhone.runtime.channels import open_channel
from rhone.runtime.settings import max_concurrent_calls
from rhone.v1 import admin_pb2_grpc, sessions_pb2_grpc, tenancy_pb2_grpc, translator_pb2_grpc
from services.facade.admission import Admission
from services.facade.auth import Authenticator
from services.facade.config import FacadeSettings
from services.facade.limits import Limiter
from services.facade.metering import Metering
from services.facade.relay import Relay
from services.facade.runs.engine import RunEngine, RunSettings
from services.facade.usage_writer import UsageWriter
from services.facade.ws.limits import SocketLimits


@dataclass
class FacadeState:
    translator_channel: grpc.aio.Channel
    sessions_channel: grpc.aio.Channel
    translator: translator_pb2_grpc.TranslatorServiceStub
    sessions: sessions_pb2_grpc.SessionServiceStub
    tenancy: tenancy_pb2_grpc.TenancyServiceStub
    admin: admin_pb2_grpc.AdminServiceStub
    auth: Authenticator
    relay: Relay
    metering: Metering
    ws_limits: SocketLimits
    admission: Admission
    runs: RunEngine

    @classmethod
    def open(cls, settings: FacadeSettings) -> FacadeState:
        translator_channel = open_channel(settings.translator_addr)
        sessions_channel = open_channel(settings.sessions_addr)
        translator = translator_pb2_grpc.TranslatorServiceStub(translator_channel)
        sessions = sessions_pb2_grpc.SessionServiceStub(sessions_channel)
        tenancy = tenancy_pb2_grpc.TenancyServiceStub(sessions_channel)
        admission = Admission(max_concurrent_calls("facade"))
        metrics.WS_QUEUED_BYTES.set_function(admission.queued_bytes)
        relay = Relay(translator, settings.max_body_bytes, admission, settings.call_timeout_s)
        return cls(
            translator_channel=translator_channel,
            sessions_channel=sessions_channel,
            translator=translator,
            sessions=sessions,
            tenancy=tenancy,
            admin=admin_pb2_grpc.AdminServiceStub(sessions_channel),
            auth=Authenticator(tenancy, settings.key_cache_s, settings.key_version_poll_s),
            relay=relay,
            metering=Metering(
                Limiter(
                    settings.redis_url,
                    prefix=settings.limits_prefix,
                    timeout_s=settings.limits_timeout_s,
                    lease_s=settings.limits_lease_s,
                    block_ms=settings.limits_block_ms,
                ),
                UsageWriter(tenancy, settings.usage_flush_s),
                load_price_table(settings.routing_config),
                fail_open=settings.limits_fail_open,
            ),
            ws_limits=SocketLimits(
                max_calls_in_flight=settings.ws_max_calls,
                max_queued_bytes=settings.ws_max_queued_bytes,
                idle_timeout_s=settings.ws_idle_timeout_s,
                max_kept_responses=settings.ws_kept_responses,
                max_kept_bytes=settings.ws_kept_bytes,
            ),
            admission=admission,
            runs=RunEngine(
                sessions_channel,
                sessions,
                relay,
                RunSettings(
                    tool_timeout_s=settings.run_tool_timeout_s,
                    max_steps_limit=settings.run_max_steps,
                    poll_s=settings.run_poll_s,
                    heartbeat_s=settings.run_heartbeat_s,
                ),
            ),
        )

    async def close(self) -> None:
        await self.runs.close()
        await self.auth.stop()
        await self.metering.close()
        await self.translator_channel.close()
        await self.sessions_channel.close()
