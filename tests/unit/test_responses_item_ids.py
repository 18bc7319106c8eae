"""Responses item ids lead back to their response (rhone/dialects/openai_responses/item_ids.py)."""

from __future__ import annotations

import pytest

from rhone.dialects.openai_responses.item_ids import input_item_id, output_item_id, response_id_of


def test_output_and_input_item_ids_name_their_response():
    response_id = "resp_" + "ab" * 24
    for item_id in (output_item_id("msg", response_id, 0), input_item_id("fc", response_id, 12)):
        assert response_id_of(item_id) == response_id
    assert output_item_id("rs", response_id, 3) == f"rs_{'ab' * 24}_3"
    assert input_item_id("msg", response_id, 3) == f"msg_{'ab' * 24}_in3"


@pytest.mark.parametrize("item_id", ["", "msg", "msg_", "msg__0", "msg_abc", "msg_abc_x", "_abc_1"])
def test_ids_of_other_forms_name_no_response(item_id: str):
    assert response_id_of(item_id) is None
