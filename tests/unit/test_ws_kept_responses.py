"""A Responses socket's in-memory `store: false` responses: bounded in count and bytes, least
recently used out first, evicted on demand."""

from __future__ import annotations

from rhone.v1 import content_pb2 as content
from rhone.v1 import translator_pb2 as tpb
from services.facade.ws.kept_responses import KeptResponses


def kept(response_id: str, text: str = "x") -> tpb.KeptResponse:
    message = content.Message(
        role=content.ROLE_USER, parts=[content.Part(text=content.TextPart(text=text))]
    )
    return tpb.KeptResponse(response_id=response_id, context=[message])


def test_the_least_recently_used_response_goes_first_when_the_count_is_full():
    responses = KeptResponses(max_responses=2, max_bytes=1 << 20)
    responses.put(kept("a"))
    responses.put(kept("b"))
    assert responses.get("a") is not None  # a is now the most recent
    responses.put(kept("c"))
    assert responses.get("b") is None
    assert responses.get("a") is not None and responses.get("c") is not None


def test_the_byte_budget_bounds_what_is_kept():
    one = kept("a", "y" * 100)
    responses = KeptResponses(max_responses=10, max_bytes=one.ByteSize() * 2 + 1)
    for name in "abc":
        responses.put(kept(name, "y" * 100))
    assert len(responses) == 2 and responses.get("a") is None
    responses.put(kept("huge", "z" * 10_000))  # larger than the whole budget: not kept
    assert responses.get("huge") is None and len(responses) == 2


def test_evict_forgets_and_unknown_ids_are_ignored():
    responses = KeptResponses(max_responses=4, max_bytes=1 << 20)
    responses.put(kept("a"))
    responses.evict("a")
    responses.evict("never")
    responses.evict(None)
    assert responses.get("a") is None and responses.get(None) is None and len(responses) == 0
