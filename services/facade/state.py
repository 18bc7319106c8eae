"""What the facade's routes share: the peers' channels and stubs, the authenticator, the relay."""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from rhone.runtime.channels import open_channel
from rhone.runtime.settings import max_concurrent_calls
from rhone.v1 import sessions_pb2_grpc, translator_pb2_grpc
from services.facade.admission import Admission
from services.facade.auth import Authenticator
from services.facade.config import FacadeSettings
from services.facade.relay import Relay
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
    admission: Admission

    @classmethod
    def open(cls, settings: FacadeSettings) -> FacadeState:
        translator_channel = open_channel(settings.translator_addr)
        sessions_channel = open_channel(settings.sessions_addr)
        translator = translator_pb2_grpc.TranslatorServiceStub(translator_channel)
        sessions = sessions_pb2_grpc.SessionServiceStub(sessions_channel)
        admission = Admission(max_concurrent_calls("facade"))
        return cls(
            translator_channel=translator_channel,
            sessions_channel=sessions_channel,
            translator=translator,
            sessions=sessions,
            auth=Authenticator(sessions, settings.key_cache_s),
            relay=Relay(translator, settings.max_body_bytes, admission, settings.call_timeout_s),
            ws_limits=SocketLimits(
                max_calls_in_flight=settings.ws_max_calls,
                max_queued_bytes=settings.ws_max_queued_bytes,
                idle_timeout_s=settings.ws_idle_timeout_s,
            ),
            admission=admission,
        )

    async def close(self) -> None:
        await self.translator_channel.close()
        await self.sessions_channel.close()
