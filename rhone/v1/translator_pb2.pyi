from rhone.v1 import content_pb2 as _content_pb2
from rhone.v1 import generation_pb2 as _generation_pb2
from rhone.v1 import providers_pb2 as _providers_pb2
from rhone.v1 import sessions_pb2 as _sessions_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Surface(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SURFACE_UNSPECIFIED: _ClassVar[Surface]
    SURFACE_OPENAI_CHAT: _ClassVar[Surface]
    SURFACE_OPENAI_RESPONSES: _ClassVar[Surface]
    SURFACE_ANTHROPIC_MESSAGES: _ClassVar[Surface]
    SURFACE_GEMINI: _ClassVar[Surface]
    SURFACE_VERTEX: _ClassVar[Surface]

class Transport(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRANSPORT_UNSPECIFIED: _ClassVar[Transport]
    TRANSPORT_HTTP: _ClassVar[Transport]
    TRANSPORT_WEBSOCKET: _ClassVar[Transport]
SURFACE_UNSPECIFIED: Surface
SURFACE_OPENAI_CHAT: Surface
SURFACE_OPENAI_RESPONSES: Surface
SURFACE_ANTHROPIC_MESSAGES: Surface
SURFACE_GEMINI: Surface
SURFACE_VERTEX: Surface
TRANSPORT_UNSPECIFIED: Transport
TRANSPORT_HTTP: Transport
TRANSPORT_WEBSOCKET: Transport

class SessionContextRequest(_message.Message):
    __slots__ = ("tenant_id", "session_id", "model", "context_policy_json")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_POLICY_JSON_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    session_id: str
    model: str
    context_policy_json: str
    def __init__(self, tenant_id: _Optional[str] = ..., session_id: _Optional[str] = ..., model: _Optional[str] = ..., context_policy_json: _Optional[str] = ...) -> None: ...

class SessionContext(_message.Message):
    __slots__ = ("model", "messages", "estimated_input_tokens", "context_window", "input_budget", "strategy", "action", "dropped_messages")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_WINDOW_FIELD_NUMBER: _ClassVar[int]
    INPUT_BUDGET_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    DROPPED_MESSAGES_FIELD_NUMBER: _ClassVar[int]
    model: str
    messages: _containers.RepeatedCompositeFieldContainer[_content_pb2.Message]
    estimated_input_tokens: int
    context_window: int
    input_budget: int
    strategy: str
    action: str
    dropped_messages: int
    def __init__(self, model: _Optional[str] = ..., messages: _Optional[_Iterable[_Union[_content_pb2.Message, _Mapping]]] = ..., estimated_input_tokens: _Optional[int] = ..., context_window: _Optional[int] = ..., input_budget: _Optional[int] = ..., strategy: _Optional[str] = ..., action: _Optional[str] = ..., dropped_messages: _Optional[int] = ...) -> None: ...

class CompactSessionResponse(_message.Message):
    __slots__ = ("turn", "version")
    TURN_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    turn: _sessions_pb2.Turn
    version: int
    def __init__(self, turn: _Optional[_Union[_sessions_pb2.Turn, _Mapping]] = ..., version: _Optional[int] = ...) -> None: ...

class CallRequest(_message.Message):
    __slots__ = ("surface", "method", "transport", "params", "tenant_id", "body", "kept_previous", "batches")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SURFACE_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    TRANSPORT_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    KEPT_PREVIOUS_FIELD_NUMBER: _ClassVar[int]
    BATCHES_FIELD_NUMBER: _ClassVar[int]
    surface: Surface
    method: str
    transport: Transport
    params: _containers.ScalarMap[str, str]
    tenant_id: str
    body: bytes
    kept_previous: KeptResponse
    batches: bool
    def __init__(self, surface: _Optional[_Union[Surface, str]] = ..., method: _Optional[str] = ..., transport: _Optional[_Union[Transport, str]] = ..., params: _Optional[_Mapping[str, str]] = ..., tenant_id: _Optional[str] = ..., body: _Optional[bytes] = ..., kept_previous: _Optional[_Union[KeptResponse, _Mapping]] = ..., batches: _Optional[bool] = ...) -> None: ...

class KeptResponse(_message.Message):
    __slots__ = ("response_id", "instructions", "context")
    RESPONSE_ID_FIELD_NUMBER: _ClassVar[int]
    INSTRUCTIONS_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    response_id: str
    instructions: _containers.RepeatedCompositeFieldContainer[_content_pb2.Message]
    context: _containers.RepeatedCompositeFieldContainer[_content_pb2.Message]
    def __init__(self, response_id: _Optional[str] = ..., instructions: _Optional[_Iterable[_Union[_content_pb2.Message, _Mapping]]] = ..., context: _Optional[_Iterable[_Union[_content_pb2.Message, _Mapping]]] = ...) -> None: ...

class CallHead(_message.Message):
    __slots__ = ("status", "content_type", "headers", "stream")
    class HeadersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    STREAM_FIELD_NUMBER: _ClassVar[int]
    status: int
    content_type: str
    headers: _containers.ScalarMap[str, str]
    stream: bool
    def __init__(self, status: _Optional[int] = ..., content_type: _Optional[str] = ..., headers: _Optional[_Mapping[str, str]] = ..., stream: _Optional[bool] = ...) -> None: ...

class CallTrailer(_message.Message):
    __slots__ = ("failure", "session_id", "kept", "usage", "model", "provider", "ttft_ms")
    FAILURE_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    KEPT_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    TTFT_MS_FIELD_NUMBER: _ClassVar[int]
    failure: _generation_pb2.Failure
    session_id: str
    kept: KeptResponse
    usage: _generation_pb2.Usage
    model: str
    provider: str
    ttft_ms: int
    def __init__(self, failure: _Optional[_Union[_generation_pb2.Failure, _Mapping]] = ..., session_id: _Optional[str] = ..., kept: _Optional[_Union[KeptResponse, _Mapping]] = ..., usage: _Optional[_Union[_generation_pb2.Usage, _Mapping]] = ..., model: _Optional[str] = ..., provider: _Optional[str] = ..., ttft_ms: _Optional[int] = ...) -> None: ...

class CallFrame(_message.Message):
    __slots__ = ("head", "data", "trailer", "batch")
    HEAD_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    TRAILER_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    head: CallHead
    data: bytes
    trailer: CallTrailer
    batch: CallFrames
    def __init__(self, head: _Optional[_Union[CallHead, _Mapping]] = ..., data: _Optional[bytes] = ..., trailer: _Optional[_Union[CallTrailer, _Mapping]] = ..., batch: _Optional[_Union[CallFrames, _Mapping]] = ...) -> None: ...

class CallFrames(_message.Message):
    __slots__ = ("frames",)
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    frames: _containers.RepeatedCompositeFieldContainer[CallFrame]
    def __init__(self, frames: _Optional[_Iterable[_Union[CallFrame, _Mapping]]] = ...) -> None: ...

class Continuity(_message.Message):
    __slots__ = ("session_id", "stateless")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    STATELESS_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    stateless: bool
    def __init__(self, session_id: _Optional[str] = ..., stateless: _Optional[bool] = ...) -> None: ...

class TranslatorGenerateRequest(_message.Message):
    __slots__ = ("tenant_id", "request", "continuity")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    CONTINUITY_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    request: _generation_pb2.GenerateRequest
    continuity: Continuity
    def __init__(self, tenant_id: _Optional[str] = ..., request: _Optional[_Union[_generation_pb2.GenerateRequest, _Mapping]] = ..., continuity: _Optional[_Union[Continuity, _Mapping]] = ...) -> None: ...

class TranslatorGenerateEvent(_message.Message):
    __slots__ = ("session_id", "generation", "turn_id")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    TURN_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    generation: _generation_pb2.GenerationEvent
    turn_id: str
    def __init__(self, session_id: _Optional[str] = ..., generation: _Optional[_Union[_generation_pb2.GenerationEvent, _Mapping]] = ..., turn_id: _Optional[str] = ...) -> None: ...
