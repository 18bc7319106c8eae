from google.protobuf import struct_pb2 as _struct_pb2
from rhone.v1 import generation_pb2 as _generation_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class UsageStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    USAGE_STATUS_UNSPECIFIED: _ClassVar[UsageStatus]
    USAGE_STATUS_COMPLETED: _ClassVar[UsageStatus]
    USAGE_STATUS_FAILED: _ClassVar[UsageStatus]
    USAGE_STATUS_CANCELLED: _ClassVar[UsageStatus]
USAGE_STATUS_UNSPECIFIED: UsageStatus
USAGE_STATUS_COMPLETED: UsageStatus
USAGE_STATUS_FAILED: UsageStatus
USAGE_STATUS_CANCELLED: UsageStatus

class Limits(_message.Message):
    __slots__ = ("requests_per_minute", "tokens_per_minute", "concurrent_requests")
    REQUESTS_PER_MINUTE_FIELD_NUMBER: _ClassVar[int]
    TOKENS_PER_MINUTE_FIELD_NUMBER: _ClassVar[int]
    CONCURRENT_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    requests_per_minute: int
    tokens_per_minute: int
    concurrent_requests: int
    def __init__(self, requests_per_minute: _Optional[int] = ..., tokens_per_minute: _Optional[int] = ..., concurrent_requests: _Optional[int] = ...) -> None: ...

class Tenant(_message.Message):
    __slots__ = ("id", "name", "metadata", "limits", "models", "monthly_budget_usd", "created_at_ms", "updated_at_ms", "deleted_at_ms")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    MONTHLY_BUDGET_USD_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    DELETED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    metadata: _struct_pb2.Struct
    limits: Limits
    models: _containers.RepeatedScalarFieldContainer[str]
    monthly_budget_usd: float
    created_at_ms: int
    updated_at_ms: int
    deleted_at_ms: int
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., limits: _Optional[_Union[Limits, _Mapping]] = ..., models: _Optional[_Iterable[str]] = ..., monthly_budget_usd: _Optional[float] = ..., created_at_ms: _Optional[int] = ..., updated_at_ms: _Optional[int] = ..., deleted_at_ms: _Optional[int] = ...) -> None: ...

class ApiKey(_message.Message):
    __slots__ = ("id", "tenant_id", "name", "prefix", "limits", "models", "expires_at_ms", "monthly_budget_usd", "revoked_at_ms", "created_at_ms", "updated_at_ms", "secret", "source")
    ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_MS_FIELD_NUMBER: _ClassVar[int]
    MONTHLY_BUDGET_USD_FIELD_NUMBER: _ClassVar[int]
    REVOKED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    id: str
    tenant_id: str
    name: str
    prefix: str
    limits: Limits
    models: _containers.RepeatedScalarFieldContainer[str]
    expires_at_ms: int
    monthly_budget_usd: float
    revoked_at_ms: int
    created_at_ms: int
    updated_at_ms: int
    secret: str
    source: str
    def __init__(self, id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., name: _Optional[str] = ..., prefix: _Optional[str] = ..., limits: _Optional[_Union[Limits, _Mapping]] = ..., models: _Optional[_Iterable[str]] = ..., expires_at_ms: _Optional[int] = ..., monthly_budget_usd: _Optional[float] = ..., revoked_at_ms: _Optional[int] = ..., created_at_ms: _Optional[int] = ..., updated_at_ms: _Optional[int] = ..., secret: _Optional[str] = ..., source: _Optional[str] = ...) -> None: ...

class ResolveKeyRequest(_message.Message):
    __slots__ = ("api_key",)
    API_KEY_FIELD_NUMBER: _ClassVar[int]
    api_key: str
    def __init__(self, api_key: _Optional[str] = ...) -> None: ...

class ResolvedKey(_message.Message):
    __slots__ = ("tenant_id", "key_id", "key_limits", "tenant_limits", "key_models", "tenant_models", "expires_at_ms", "key_budget_usd", "tenant_budget_usd", "key_spent_usd", "tenant_spent_usd")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_LIMITS_FIELD_NUMBER: _ClassVar[int]
    TENANT_LIMITS_FIELD_NUMBER: _ClassVar[int]
    KEY_MODELS_FIELD_NUMBER: _ClassVar[int]
    TENANT_MODELS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_MS_FIELD_NUMBER: _ClassVar[int]
    KEY_BUDGET_USD_FIELD_NUMBER: _ClassVar[int]
    TENANT_BUDGET_USD_FIELD_NUMBER: _ClassVar[int]
    KEY_SPENT_USD_FIELD_NUMBER: _ClassVar[int]
    TENANT_SPENT_USD_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    key_id: str
    key_limits: Limits
    tenant_limits: Limits
    key_models: _containers.RepeatedScalarFieldContainer[str]
    tenant_models: _containers.RepeatedScalarFieldContainer[str]
    expires_at_ms: int
    key_budget_usd: float
    tenant_budget_usd: float
    key_spent_usd: float
    tenant_spent_usd: float
    def __init__(self, tenant_id: _Optional[str] = ..., key_id: _Optional[str] = ..., key_limits: _Optional[_Union[Limits, _Mapping]] = ..., tenant_limits: _Optional[_Union[Limits, _Mapping]] = ..., key_models: _Optional[_Iterable[str]] = ..., tenant_models: _Optional[_Iterable[str]] = ..., expires_at_ms: _Optional[int] = ..., key_budget_usd: _Optional[float] = ..., tenant_budget_usd: _Optional[float] = ..., key_spent_usd: _Optional[float] = ..., tenant_spent_usd: _Optional[float] = ...) -> None: ...

class GetKeysVersionRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class KeysVersion(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: int
    def __init__(self, version: _Optional[int] = ...) -> None: ...

class UsageRecord(_message.Message):
    __slots__ = ("id", "tenant_id", "key_id", "session_id", "surface", "model", "provider", "usage", "cost_usd", "latency_ms", "ttft_ms", "status", "http_status", "error_code", "created_at_ms")
    ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    SURFACE_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    TTFT_MS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    HTTP_STATUS_FIELD_NUMBER: _ClassVar[int]
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    id: str
    tenant_id: str
    key_id: str
    session_id: str
    surface: str
    model: str
    provider: str
    usage: _generation_pb2.Usage
    cost_usd: float
    latency_ms: int
    ttft_ms: int
    status: UsageStatus
    http_status: int
    error_code: str
    created_at_ms: int
    def __init__(self, id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., key_id: _Optional[str] = ..., session_id: _Optional[str] = ..., surface: _Optional[str] = ..., model: _Optional[str] = ..., provider: _Optional[str] = ..., usage: _Optional[_Union[_generation_pb2.Usage, _Mapping]] = ..., cost_usd: _Optional[float] = ..., latency_ms: _Optional[int] = ..., ttft_ms: _Optional[int] = ..., status: _Optional[_Union[UsageStatus, str]] = ..., http_status: _Optional[int] = ..., error_code: _Optional[str] = ..., created_at_ms: _Optional[int] = ...) -> None: ...

class RecordUsageRequest(_message.Message):
    __slots__ = ("records",)
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[UsageRecord]
    def __init__(self, records: _Optional[_Iterable[_Union[UsageRecord, _Mapping]]] = ...) -> None: ...

class RecordUsageResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class QueryUsageRequest(_message.Message):
    __slots__ = ("tenant_id", "start_ms", "end_ms", "group_by")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    START_MS_FIELD_NUMBER: _ClassVar[int]
    END_MS_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    start_ms: int
    end_ms: int
    group_by: str
    def __init__(self, tenant_id: _Optional[str] = ..., start_ms: _Optional[int] = ..., end_ms: _Optional[int] = ..., group_by: _Optional[str] = ...) -> None: ...

class UsageRow(_message.Message):
    __slots__ = ("group", "calls", "failed_calls", "input_tokens", "cached_input_tokens", "output_tokens", "reasoning_tokens", "cost_usd")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    CALLS_FIELD_NUMBER: _ClassVar[int]
    FAILED_CALLS_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHED_INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    REASONING_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    group: str
    calls: int
    failed_calls: int
    input_tokens: int
    cached_input_tokens: int
    output_tokens: int
    reasoning_tokens: int
    cost_usd: float
    def __init__(self, group: _Optional[str] = ..., calls: _Optional[int] = ..., failed_calls: _Optional[int] = ..., input_tokens: _Optional[int] = ..., cached_input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., reasoning_tokens: _Optional[int] = ..., cost_usd: _Optional[float] = ...) -> None: ...

class QueryUsageResponse(_message.Message):
    __slots__ = ("rows",)
    ROWS_FIELD_NUMBER: _ClassVar[int]
    rows: _containers.RepeatedCompositeFieldContainer[UsageRow]
    def __init__(self, rows: _Optional[_Iterable[_Union[UsageRow, _Mapping]]] = ...) -> None: ...
