from rhone.v1 import generation_pb2 as _generation_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ModelLimitsRequest(_message.Message):
    __slots__ = ("model", "home_provider")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    HOME_PROVIDER_FIELD_NUMBER: _ClassVar[int]
    model: str
    home_provider: str
    def __init__(self, model: _Optional[str] = ..., home_provider: _Optional[str] = ...) -> None: ...

class ModelLimits(_message.Message):
    __slots__ = ("context_window", "max_output_tokens", "provider")
    CONTEXT_WINDOW_FIELD_NUMBER: _ClassVar[int]
    MAX_OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    context_window: int
    max_output_tokens: int
    provider: str
    def __init__(self, context_window: _Optional[int] = ..., max_output_tokens: _Optional[int] = ..., provider: _Optional[str] = ...) -> None: ...

class CountTokensResponse(_message.Message):
    __slots__ = ("input_tokens", "estimated")
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_FIELD_NUMBER: _ClassVar[int]
    input_tokens: int
    estimated: bool
    def __init__(self, input_tokens: _Optional[int] = ..., estimated: _Optional[bool] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ModelInfo(_message.Message):
    __slots__ = ("id", "provider", "owned_by", "created")
    ID_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    OWNED_BY_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    id: str
    provider: str
    owned_by: str
    created: int
    def __init__(self, id: _Optional[str] = ..., provider: _Optional[str] = ..., owned_by: _Optional[str] = ..., created: _Optional[int] = ...) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models",)
    MODELS_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[ModelInfo]
    def __init__(self, models: _Optional[_Iterable[_Union[ModelInfo, _Mapping]]] = ...) -> None: ...
