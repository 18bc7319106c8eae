from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class OpenRequest(_message.Message):
    __slots__ = ("method", "metadata", "timeout_s", "request")
    METHOD_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_S_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    method: str
    metadata: _containers.RepeatedScalarFieldContainer[str]
    timeout_s: float
    request: bytes
    def __init__(self, method: _Optional[str] = ..., metadata: _Optional[_Iterable[str]] = ..., timeout_s: _Optional[float] = ..., request: _Optional[bytes] = ...) -> None: ...

class OpenResponse(_message.Message):
    __slots__ = ("message", "initial_metadata", "end")
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    INITIAL_METADATA_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    message: bytes
    initial_metadata: _containers.RepeatedScalarFieldContainer[str]
    end: LaneEnd
    def __init__(self, message: _Optional[bytes] = ..., initial_metadata: _Optional[_Iterable[str]] = ..., end: _Optional[_Union[LaneEnd, _Mapping]] = ...) -> None: ...

class LaneEnd(_message.Message):
    __slots__ = ("code", "details", "trailing_metadata")
    CODE_FIELD_NUMBER: _ClassVar[int]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    TRAILING_METADATA_FIELD_NUMBER: _ClassVar[int]
    code: int
    details: str
    trailing_metadata: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, code: _Optional[int] = ..., details: _Optional[str] = ..., trailing_metadata: _Optional[_Iterable[str]] = ...) -> None: ...
