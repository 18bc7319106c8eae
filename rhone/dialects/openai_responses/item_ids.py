"""The ids Rhone gives Responses items.

Every item is named after the response it belongs to, so that an id alone leads back to the
stored turn that holds the item: a client may send it back as an `item_reference` (the `input`
of https://platform.openai.com/docs/api-reference/responses/create), and the translator
resolves it through the response id.

- the n-th output item: ``<kind>_<response id without resp_>_<n>`` (``msg_``, ``fc_``, ``rs_``)
- the n-th input item: ``<kind>_<response id without resp_>_in<n>``
"""

from __future__ import annotations

RESPONSE_PREFIX = "resp_"
_INPUT_MARK = "in"


def _base(response_id: str) -> str:
    return response_id.removeprefix(RESPONSE_PREFIX)


def output_item_id(kind: str, response_id: str, index: int) -> str:
    return f"{kind}_{_base(response_id)}_{index}"


def input_item_id(kind: str, response_id: str, index: int) -> str:
    return f"{kind}_{_base(response_id)}_{_INPUT_MARK}{index}"


def response_id_of(item_id: str) -> str | None:
    """The response an item id of Rhone's names; None for an id of another form."""
    kind, _, rest = item_id.partition("_")
    base, _, index = rest.rpartition("_")
    if not kind or not base or not index.removeprefix(_INPUT_MARK).isdigit():
        return None
    return RESPONSE_PREFIX + base
