"""Which dialect speaks for which public surface."""

from __future__ import annotations

from rhone.dialects.base import Dialect
from rhone.dialects.openai_chat import DIALECT as OPENAI_CHAT
from rhone.v1 import translator_pb2 as tpb

DIALECTS: dict[int, Dialect] = {
    tpb.SURFACE_OPENAI_CHAT: OPENAI_CHAT,
}


def dialect_for(surface: int) -> Dialect | None:
    return DIALECTS.get(surface)
