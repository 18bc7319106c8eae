"""What the facade's routes share: the peers' channels and stubs, the authenticator, the relay."""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from rhone.runtime.channels import open_channel
from rhone.v1 import sessions_pb2_grpc, translator_pb2_grpc
from services.facade.auth import Authenticator
from services.facade.config import FacadeSettings
from services.facade.relay import Relay
from services.facade.runs.engine import RunEngine, RunSettings
from services.facade.ws.limits import SocketLimits


@dataclass
class FacadeState:
    translator_channel: grpc.aio.Channel
    sessions_channel: grpc.aio.Channel
    translator: translator_pb2_grpc.TranslatorServiceStub
    sessions: sessions_pb2_grpc.SessionServiceStub
    auth: Authenticator
    relay: Relay
    ws_limits: SocketLimits
    runs: RunEngine

    @classmethod
    def open(cls, settings: FacadeSettings) -> FacadeState:
        translator_channel = open_channel(settings.translator_addr)
        sessions_channel = open_channel(settings.sessions_addr)
        translator = translator_pb2_grpc.TranslatorServiceStub(translator_channel)
        sessions = sessions_pb2_grpc.SessionServiceStub(sessions_channel)
        relay = Relay(translator, settings.max_body_bytes)
        return cls(
            translator_channel=translator_channel,
            sessions_channel=sessions_channel,
            translator=translator,
            sessions=sessions,
            auth=Authenticator(sessions, settings.key_cache_s),
            relay=relay,
            ws_limits=SocketLimits(
                max_calls_in_flight=settings.ws_max_calls,
                max_queued_bytes=settings.ws_max_queued_bytes,
                idle_timeout_s=settings.ws_idle_timeout_s,
                max_kept_responses=settings.ws_kept_responses,
                max_kept_bytes=settings.ws_kept_bytes,
            ),
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
        await self.translator_channel.close()
        await self.sessions_channel.close()
