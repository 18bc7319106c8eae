"""SSE framing and parsing."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rhone.sse import SseDecoder, StreamItem, sse_frame


def parse(chunks: list[str]) -> list[tuple[str | None, str]]:
    decoder = SseDecoder()
    events = [e for chunk in chunks for e in decoder.feed(chunk)]
    events.extend(decoder.close())
    return [(e.event, e.data) for e in events]


def test_frames():
    assert sse_frame(StreamItem(b'{"a":1}')) == b'data: {"a":1}\n\n'
    assert sse_frame(StreamItem(b"{}", "ping")) == b"event: ping\ndata: {}\n\n"


def test_crlf_comments_and_multiline_data():
    text = ": keep-alive\r\nevent: x\r\ndata: one\r\ndata: two\r\n\r\ndata:three\n\n"
    assert parse([text]) == [("x", "one\ntwo"), (None, "three")]


def test_a_crlf_split_across_chunks_is_one_line_end():
    assert parse(["data: a\r", "\n\r", "\n"]) == [(None, "a")]


def test_last_event_without_blank_line_is_flushed_on_close():
    assert parse(["data: tail"]) == [(None, "tail")]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.one_of(st.none(), st.from_regex(r"[a-z_.]{1,12}", fullmatch=True)),
            st.from_regex(r"[^\r\n]{0,40}", fullmatch=True),
        ),
        min_size=1,
        max_size=8,
    ),
    st.integers(min_value=1, max_value=7),
)
def test_any_split_of_a_stream_parses_the_same(events, cut):
    wire = b"".join(sse_frame(StreamItem(d.encode(), e)) for e, d in events).decode()
    chunks = [wire[i : i + cut] for i in range(0, len(wire), cut)]
    assert parse(chunks) == [(e, d) for e, d in events]
