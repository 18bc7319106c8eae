from google.protobuf import struct_pb2 as _struct_pb2
from rhone.v1 import content_pb2 as _content_pb2
from rhone.v1 import generation_pb2 as _generation_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TurnStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TURN_STATUS_UNSPECIFIED: _ClassVar[TurnStatus]
    TURN_STATUS_COMPLETED: _ClassVar[TurnStatus]
    TURN_STATUS_INCOMPLETE: _ClassVar[TurnStatus]
TURN_STATUS_UNSPECIFIED: TurnStatus
TURN_STATUS_COMPLETED: TurnStatus
TURN_STATUS_INCOMPLETE: TurnStatus

class Session(_message.Message):
    __slots__ = ("id", "tenant_id", "version", "instructions", "metadata", "default_model", "created_at_ms", "updated_at_ms", "parent_id", "parent_turn_id", "context_policy_json")
    ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    INSTRUCTIONS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_MODEL_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    PARENT_ID_FIELD_NUMBER: _ClassVar[int]
    PARENT_TURN_ID_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_POLICY_JSON_FIELD_NUMBER: _ClassVar[int]
    id: str
    tenant_id: str
    version: int
    instructions: _containers.RepeatedCompositeFieldContainer[_content_pb2.Message]
    metadata: _struct_pb2.Struct
    default_model: str
    created_at_ms: int
    updated_at_ms: int
    parent_id: str
    parent_turn_id: str
    context_policy_json: str
    def __init__(self, id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., version: _Optional[int] = ..., instructions: _Optional[_Iterable[_Union[_content_pb2.Message, _Mapping]]] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., default_model: _Optional[str] = ..., created_at_ms: _Optional[int] = ..., updated_at_ms: _Optional[int] = ..., parent_id: _Optional[str] = ..., parent_turn_id: _Optional[str] = ..., context_policy_json: _Optional[str] = ...) -> None: ...

class Turn(_message.Message):
    __slots__ = ("id", "session_id", "seq", "input", "output", "model", "provider", "usage", "status", "created_at_ms", "duration_ms", "snapshot", "finish_reason", "response_id", "response_settings_json")
    ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    FINISH_REASON_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_ID_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_SETTINGS_JSON_FIELD_NUMBER: _ClassVar[int]
    id: str
    session_id: str
    seq: int
    input: _containers.RepeatedCompositeFieldContainer[_content_pb2.Message]
    output: _content_pb2.Message
    model: str
    provider: str
    usage: _generation_pb2.Usage
    status: TurnStatus
    created_at_ms: int
    duration_ms: int
    snapshot: bool
    finish_reason: _generation_pb2.FinishReason
    response_id: str
    response_settings_json: str
    def __init__(self, id: _Optional[str] = ..., session_id: _Optional[str] = ..., seq: _Optional[int] = ..., input: _Optional[_Iterable[_Union[_content_pb2.Message, _Mapping]]] = ..., output: _Optional[_Union[_content_pb2.Message, _Mapping]] = ..., model: _Optional[str] = ..., provider: _Optional[str] = ..., usage: _Optional[_Union[_generation_pb2.Usage, _Mapping]] = ..., status: _Optional[_Union[TurnStatus, str]] = ..., created_at_ms: _Optional[int] = ..., duration_ms: _Optional[int] = ..., snapshot: _Optional[bool] = ..., finish_reason: _Optional[_Union[_generation_pb2.FinishReason, str]] = ..., response_id: _Optional[str] = ..., response_settings_json: _Optional[str] = ...) -> None: ...

class CreateSessionRequest(_message.Message):
    __slots__ = ("tenant_id", "metadata", "instructions", "default_model")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    INSTRUCTIONS_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_MODEL_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    metadata: _struct_pb2.Struct
    instructions: _containers.RepeatedCompositeFieldContainer[_content_pb2.Message]
    default_model: str
    def __init__(self, tenant_id: _Optional[str] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., instructions: _Optional[_Iterable[_Union[_content_pb2.Message, _Mapping]]] = ..., default_model: _Optional[str] = ...) -> None: ...

class GetSessionRequest(_message.Message):
    __slots__ = ("tenant_id", "session_id")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    session_id: str
    def __init__(self, tenant_id: _Optional[str] = ..., session_id: _Optional[str] = ...) -> None: ...

class BeginTurnRequest(_message.Message):
    __slots__ = ("tenant_id", "session_id", "lease_ms", "from_response_id", "known_version")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    LEASE_MS_FIELD_NUMBER: _ClassVar[int]
    FROM_RESPONSE_ID_FIELD_NUMBER: _ClassVar[int]
    KNOWN_VERSION_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    session_id: str
    lease_ms: int
    from_response_id: str
    known_version: int
    def __init__(self, tenant_id: _Optional[str] = ..., session_id: _Optional[str] = ..., lease_ms: _Optional[int] = ..., from_response_id: _Optional[str] = ..., known_version: _Optional[int] = ...) -> None: ...

class BeginTurnResponse(_message.Message):
    __slots__ = ("session", "lease_id", "context", "lease_ms", "context_is_delta")
    SESSION_FIELD_NUMBER: _ClassVar[int]
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    LEASE_MS_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_IS_DELTA_FIELD_NUMBER: _ClassVar[int]
    session: Session
    lease_id: str
    context: _containers.RepeatedCompositeFieldContainer[_content_pb2.Message]
    lease_ms: int
    context_is_delta: bool
    def __init__(self, session: _Optional[_Union[Session, _Mapping]] = ..., lease_id: _Optional[str] = ..., context: _Optional[_Iterable[_Union[_content_pb2.Message, _Mapping]]] = ..., lease_ms: _Optional[int] = ..., context_is_delta: _Optional[bool] = ...) -> None: ...

class CommitTurnRequest(_message.Message):
    __slots__ = ("tenant_id", "session_id", "lease_id", "turn", "instructions", "set_instructions", "create_session")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    TURN_FIELD_NUMBER: _ClassVar[int]
    INSTRUCTIONS_FIELD_NUMBER: _ClassVar[int]
    SET_INSTRUCTIONS_FIELD_NUMBER: _ClassVar[int]
    CREATE_SESSION_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    session_id: str
    lease_id: str
    turn: Turn
    instructions: _containers.RepeatedCompositeFieldContainer[_content_pb2.Message]
    set_instructions: bool
    create_session: bool
    def __init__(self, tenant_id: _Optional[str] = ..., session_id: _Optional[str] = ..., lease_id: _Optional[str] = ..., turn: _Optional[_Union[Turn, _Mapping]] = ..., instructions: _Optional[_Iterable[_Union[_content_pb2.Message, _Mapping]]] = ..., set_instructions: _Optional[bool] = ..., create_session: _Optional[bool] = ...) -> None: ...

class CommitTurnResponse(_message.Message):
    __slots__ = ("turn", "version")
    TURN_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    turn: Turn
    version: int
    def __init__(self, turn: _Optional[_Union[Turn, _Mapping]] = ..., version: _Optional[int] = ...) -> None: ...

class CommitTurnsRequest(_message.Message):
    __slots__ = ("commits",)
    COMMITS_FIELD_NUMBER: _ClassVar[int]
    commits: _containers.RepeatedCompositeFieldContainer[BatchedCommit]
    def __init__(self, commits: _Optional[_Iterable[_Union[BatchedCommit, _Mapping]]] = ...) -> None: ...

class BatchedCommit(_message.Message):
    __slots__ = ("commit", "call_metadata")
    class CallMetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    COMMIT_FIELD_NUMBER: _ClassVar[int]
    CALL_METADATA_FIELD_NUMBER: _ClassVar[int]
    commit: CommitTurnRequest
    call_metadata: _containers.ScalarMap[str, str]
    def __init__(self, commit: _Optional[_Union[CommitTurnRequest, _Mapping]] = ..., call_metadata: _Optional[_Mapping[str, str]] = ...) -> None: ...

class CommitTurnsResponse(_message.Message):
    __slots__ = ("outcomes",)
    OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    outcomes: _containers.RepeatedCompositeFieldContainer[CommitOutcome]
    def __init__(self, outcomes: _Optional[_Iterable[_Union[CommitOutcome, _Mapping]]] = ...) -> None: ...

class CommitOutcome(_message.Message):
    __slots__ = ("committed", "failed")
    COMMITTED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    committed: CommitTurnResponse
    failed: CallStatus
    def __init__(self, committed: _Optional[_Union[CommitTurnResponse, _Mapping]] = ..., failed: _Optional[_Union[CallStatus, _Mapping]] = ...) -> None: ...

class CallStatus(_message.Message):
    __slots__ = ("code", "message", "detail")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    code: int
    message: str
    detail: str
    def __init__(self, code: _Optional[int] = ..., message: _Optional[str] = ..., detail: _Optional[str] = ...) -> None: ...

class AbortTurnRequest(_message.Message):
    __slots__ = ("tenant_id", "session_id", "lease_id")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    session_id: str
    lease_id: str
    def __init__(self, tenant_id: _Optional[str] = ..., session_id: _Optional[str] = ..., lease_id: _Optional[str] = ...) -> None: ...

class AbortTurnResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RenewLeaseRequest(_message.Message):
    __slots__ = ("tenant_id", "session_id", "lease_id", "lease_ms")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    LEASE_MS_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    session_id: str
    lease_id: str
    lease_ms: int
    def __init__(self, tenant_id: _Optional[str] = ..., session_id: _Optional[str] = ..., lease_id: _Optional[str] = ..., lease_ms: _Optional[int] = ...) -> None: ...

class RenewLeaseResponse(_message.Message):
    __slots__ = ("lease_ms",)
    LEASE_MS_FIELD_NUMBER: _ClassVar[int]
    lease_ms: int
    def __init__(self, lease_ms: _Optional[int] = ...) -> None: ...

class ListTurnsRequest(_message.Message):
    __slots__ = ("tenant_id", "session_id")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    session_id: str
    def __init__(self, tenant_id: _Optional[str] = ..., session_id: _Optional[str] = ...) -> None: ...

class ListTurnsResponse(_message.Message):
    __slots__ = ("turns",)
    TURNS_FIELD_NUMBER: _ClassVar[int]
    turns: _containers.RepeatedCompositeFieldContainer[Turn]
    def __init__(self, turns: _Optional[_Iterable[_Union[Turn, _Mapping]]] = ...) -> None: ...

class ListSessionsRequest(_message.Message):
    __slots__ = ("tenant_id", "page_size", "cursor")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    page_size: int
    cursor: str
    def __init__(self, tenant_id: _Optional[str] = ..., page_size: _Optional[int] = ..., cursor: _Optional[str] = ...) -> None: ...

class ListSessionsResponse(_message.Message):
    __slots__ = ("sessions", "next_cursor")
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    sessions: _containers.RepeatedCompositeFieldContainer[Session]
    next_cursor: str
    def __init__(self, sessions: _Optional[_Iterable[_Union[Session, _Mapping]]] = ..., next_cursor: _Optional[str] = ...) -> None: ...

class MessageList(_message.Message):
    __slots__ = ("messages",)
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    messages: _containers.RepeatedCompositeFieldContainer[_content_pb2.Message]
    def __init__(self, messages: _Optional[_Iterable[_Union[_content_pb2.Message, _Mapping]]] = ...) -> None: ...

class UpdateSessionRequest(_message.Message):
    __slots__ = ("tenant_id", "session_id", "metadata", "instructions", "default_model", "context_policy_json")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    INSTRUCTIONS_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_MODEL_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_POLICY_JSON_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    session_id: str
    metadata: _struct_pb2.Struct
    instructions: MessageList
    default_model: str
    context_policy_json: str
    def __init__(self, tenant_id: _Optional[str] = ..., session_id: _Optional[str] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., instructions: _Optional[_Union[MessageList, _Mapping]] = ..., default_model: _Optional[str] = ..., context_policy_json: _Optional[str] = ...) -> None: ...

class DeleteSessionRequest(_message.Message):
    __slots__ = ("tenant_id", "session_id")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    session_id: str
    def __init__(self, tenant_id: _Optional[str] = ..., session_id: _Optional[str] = ...) -> None: ...

class DeleteSessionResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class BranchSessionRequest(_message.Message):
    __slots__ = ("tenant_id", "session_id", "at_turn_id")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    AT_TURN_ID_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    session_id: str
    at_turn_id: str
    def __init__(self, tenant_id: _Optional[str] = ..., session_id: _Optional[str] = ..., at_turn_id: _Optional[str] = ...) -> None: ...

class GetTurnByResponseIdRequest(_message.Message):
    __slots__ = ("tenant_id", "response_id")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_ID_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    response_id: str
    def __init__(self, tenant_id: _Optional[str] = ..., response_id: _Optional[str] = ...) -> None: ...

class GetTurnByResponseIdResponse(_message.Message):
    __slots__ = ("turn", "session_id", "is_latest")
    TURN_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    IS_LATEST_FIELD_NUMBER: _ClassVar[int]
    turn: Turn
    session_id: str
    is_latest: bool
    def __init__(self, turn: _Optional[_Union[Turn, _Mapping]] = ..., session_id: _Optional[str] = ..., is_latest: _Optional[bool] = ...) -> None: ...

class DeleteResponseRequest(_message.Message):
    __slots__ = ("tenant_id", "response_id")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_ID_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    response_id: str
    def __init__(self, tenant_id: _Optional[str] = ..., response_id: _Optional[str] = ...) -> None: ...

class DeleteResponseResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class LoadContextRequest(_message.Message):
    __slots__ = ("tenant_id", "session_id", "from_response_id")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_RESPONSE_ID_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    session_id: str
    from_response_id: str
    def __init__(self, tenant_id: _Optional[str] = ..., session_id: _Optional[str] = ..., from_response_id: _Optional[str] = ...) -> None: ...

class LoadContextResponse(_message.Message):
    __slots__ = ("session", "context")
    SESSION_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    session: Session
    context: _containers.RepeatedCompositeFieldContainer[_content_pb2.Message]
    def __init__(self, session: _Optional[_Union[Session, _Mapping]] = ..., context: _Optional[_Iterable[_Union[_content_pb2.Message, _Mapping]]] = ...) -> None: ...
