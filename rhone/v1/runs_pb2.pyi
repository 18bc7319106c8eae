from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Run(_message.Message):
    __slots__ = ("id", "tenant_id", "session_id", "surface", "body_json", "status", "steps", "max_steps", "pending_json", "deadline_ms", "last_seq", "created_at_ms", "updated_at_ms")
    ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    SURFACE_FIELD_NUMBER: _ClassVar[int]
    BODY_JSON_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    MAX_STEPS_FIELD_NUMBER: _ClassVar[int]
    PENDING_JSON_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_MS_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQ_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    id: str
    tenant_id: str
    session_id: str
    surface: str
    body_json: str
    status: str
    steps: int
    max_steps: int
    pending_json: str
    deadline_ms: int
    last_seq: int
    created_at_ms: int
    updated_at_ms: int
    def __init__(self, id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., session_id: _Optional[str] = ..., surface: _Optional[str] = ..., body_json: _Optional[str] = ..., status: _Optional[str] = ..., steps: _Optional[int] = ..., max_steps: _Optional[int] = ..., pending_json: _Optional[str] = ..., deadline_ms: _Optional[int] = ..., last_seq: _Optional[int] = ..., created_at_ms: _Optional[int] = ..., updated_at_ms: _Optional[int] = ...) -> None: ...

class CreateRunRequest(_message.Message):
    __slots__ = ("tenant_id", "run_id", "session_id", "surface", "body_json", "max_steps", "first_event")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    SURFACE_FIELD_NUMBER: _ClassVar[int]
    BODY_JSON_FIELD_NUMBER: _ClassVar[int]
    MAX_STEPS_FIELD_NUMBER: _ClassVar[int]
    FIRST_EVENT_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    run_id: str
    session_id: str
    surface: str
    body_json: str
    max_steps: int
    first_event: bytes
    def __init__(self, tenant_id: _Optional[str] = ..., run_id: _Optional[str] = ..., session_id: _Optional[str] = ..., surface: _Optional[str] = ..., body_json: _Optional[str] = ..., max_steps: _Optional[int] = ..., first_event: _Optional[bytes] = ...) -> None: ...

class GetRunRequest(_message.Message):
    __slots__ = ("tenant_id", "run_id")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    run_id: str
    def __init__(self, tenant_id: _Optional[str] = ..., run_id: _Optional[str] = ...) -> None: ...

class RunUpdate(_message.Message):
    __slots__ = ("status", "steps", "pending_json", "deadline_ms")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    PENDING_JSON_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_MS_FIELD_NUMBER: _ClassVar[int]
    status: str
    steps: int
    pending_json: str
    deadline_ms: int
    def __init__(self, status: _Optional[str] = ..., steps: _Optional[int] = ..., pending_json: _Optional[str] = ..., deadline_ms: _Optional[int] = ...) -> None: ...

class AppendRunEventsRequest(_message.Message):
    __slots__ = ("tenant_id", "run_id", "events", "update", "require_status")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    UPDATE_FIELD_NUMBER: _ClassVar[int]
    REQUIRE_STATUS_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    run_id: str
    events: _containers.RepeatedScalarFieldContainer[bytes]
    update: RunUpdate
    require_status: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, tenant_id: _Optional[str] = ..., run_id: _Optional[str] = ..., events: _Optional[_Iterable[bytes]] = ..., update: _Optional[_Union[RunUpdate, _Mapping]] = ..., require_status: _Optional[_Iterable[str]] = ...) -> None: ...

class ListRunEventsRequest(_message.Message):
    __slots__ = ("tenant_id", "run_id", "after_seq", "limit")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQ_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    run_id: str
    after_seq: int
    limit: int
    def __init__(self, tenant_id: _Optional[str] = ..., run_id: _Optional[str] = ..., after_seq: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class RunEvent(_message.Message):
    __slots__ = ("seq", "event")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    seq: int
    event: bytes
    def __init__(self, seq: _Optional[int] = ..., event: _Optional[bytes] = ...) -> None: ...

class ListRunEventsResponse(_message.Message):
    __slots__ = ("events", "run")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    RUN_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[RunEvent]
    run: Run
    def __init__(self, events: _Optional[_Iterable[_Union[RunEvent, _Mapping]]] = ..., run: _Optional[_Union[Run, _Mapping]] = ...) -> None: ...
