"""The JSON readers every dialect shares: one check, each surface's own wording."""

from __future__ import annotations

import pytest

from rhone.dialects.anthropic_messages.fields import READ as ANTHROPIC
from rhone.dialects.field_readers import FieldReader, split_data_url
from rhone.dialects.gemini.fields import READ as GEMINI
from rhone.dialects.openai_chat.fields import READ as OPENAI
from rhone.errors import RhoneError

WORDINGS = [
    pytest.param(
        OPENAI, "Invalid type for 'n': expected an integer, but got a boolean instead.", id="openai"
    ),
    pytest.param(ANTHROPIC, "n: Input should be a valid integer", id="anthropic"),
    pytest.param(GEMINI, "n must be an integer.", id="gemini"),
]


@pytest.mark.parametrize(("read", "message"), WORDINGS)
def test_a_boolean_is_not_an_integer_in_any_wording(read: FieldReader, message: str) -> None:
    with pytest.raises(RhoneError) as caught:
        read.optional_int({"n": True}, "n", "n", minimum=0, maximum=10)
    assert (caught.value.failure.message, caught.value.failure.param) == (message, "n")


@pytest.mark.parametrize(("read", "_message"), WORDINGS)
def test_null_is_absent_and_bad_base64_names_the_field(read: FieldReader, _message: str) -> None:
    assert read.optional_str({"s": None}, "s", "s") is None
    with pytest.raises(RhoneError) as caught:
        read.required({"s": None}, "s", "a.s")
    assert caught.value.failure.param == "a.s"
    with pytest.raises(RhoneError) as caught:
        read.decode_base64("not base64!", "a.data")
    assert caught.value.failure.param == "a.data"


def test_only_base64_data_urls_split() -> None:
    assert split_data_url("data:image/png;base64,AAAA") == ("image/png", "AAAA")
    assert split_data_url("data:text/plain,hello") is None
    assert split_data_url("https://example.com/a.png") is None
