"""Fake upstream LLM providers for tests: real HTTP servers speaking each provider's wire
format, scripted per test, independent of rhone's dialects (so they check them)."""

from tests.fakes.anthropic_fake import FakeAnthropic
from tests.fakes.gemini_fake import FakeGemini
from tests.fakes.openai_fake import FakeOpenAI
from tests.fakes.scenarios import (
    CutMidStream,
    Error,
    Garbage,
    Hang,
    HtmlError,
    RejectKey,
    Scenario,
    SlowFirstByte,
    StreamError,
    Text,
    Thinking,
    ToolCall,
)
from tests.fakes.server import FakeServer, RecordedRequest

__all__ = [
    "CutMidStream",
    "Error",
    "FakeAnthropic",
    "FakeGemini",
    "FakeOpenAI",
    "FakeServer",
    "Garbage",
    "Hang",
    "HtmlError",
    "RecordedRequest",
    "RejectKey",
    "Scenario",
    "SlowFirstByte",
    "StreamError",
    "Text",
    "Thinking",
    "ToolCall",
]
