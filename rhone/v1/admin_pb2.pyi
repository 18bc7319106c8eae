from google.protobuf import struct_pb2 as _struct_pb2
from rhone.v1 import tenancy_pb2 as _tenancy_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateTenantRequest(_message.Message):
    __slots__ = ("id", "name", "metadata", "limits", "models", "monthly_budget_usd")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    MONTHLY_BUDGET_USD_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    metadata: _struct_pb2.Struct
    limits: _tenancy_pb2.Limits
    models: _containers.RepeatedScalarFieldContainer[str]
    monthly_budget_usd: float
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., limits: _Optional[_Union[_tenancy_pb2.Limits, _Mapping]] = ..., models: _Optional[_Iterable[str]] = ..., monthly_budget_usd: _Optional[float] = ...) -> None: ...

class ListTenantsRequest(_message.Message):
    __slots__ = ("include_deleted",)
    INCLUDE_DELETED_FIELD_NUMBER: _ClassVar[int]
    include_deleted: bool
    def __init__(self, include_deleted: _Optional[bool] = ...) -> None: ...

class ListTenantsResponse(_message.Message):
    __slots__ = ("tenants",)
    TENANTS_FIELD_NUMBER: _ClassVar[int]
    tenants: _containers.RepeatedCompositeFieldContainer[_tenancy_pb2.Tenant]
    def __init__(self, tenants: _Optional[_Iterable[_Union[_tenancy_pb2.Tenant, _Mapping]]] = ...) -> None: ...

class GetTenantRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class StringList(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, values: _Optional[_Iterable[str]] = ...) -> None: ...

class UpdateTenantRequest(_message.Message):
    __slots__ = ("id", "name", "metadata", "limits", "models", "monthly_budget_usd", "clear_monthly_budget")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    MONTHLY_BUDGET_USD_FIELD_NUMBER: _ClassVar[int]
    CLEAR_MONTHLY_BUDGET_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    metadata: _struct_pb2.Struct
    limits: _tenancy_pb2.Limits
    models: StringList
    monthly_budget_usd: float
    clear_monthly_budget: bool
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., limits: _Optional[_Union[_tenancy_pb2.Limits, _Mapping]] = ..., models: _Optional[_Union[StringList, _Mapping]] = ..., monthly_budget_usd: _Optional[float] = ..., clear_monthly_budget: _Optional[bool] = ...) -> None: ...

class DeleteTenantRequest(_message.Message):
    __slots__ = ("id", "delete_sessions")
    ID_FIELD_NUMBER: _ClassVar[int]
    DELETE_SESSIONS_FIELD_NUMBER: _ClassVar[int]
    id: str
    delete_sessions: bool
    def __init__(self, id: _Optional[str] = ..., delete_sessions: _Optional[bool] = ...) -> None: ...

class CreateKeyRequest(_message.Message):
    __slots__ = ("tenant_id", "name", "limits", "models", "expires_at_ms", "monthly_budget_usd")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_MS_FIELD_NUMBER: _ClassVar[int]
    MONTHLY_BUDGET_USD_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    name: str
    limits: _tenancy_pb2.Limits
    models: _containers.RepeatedScalarFieldContainer[str]
    expires_at_ms: int
    monthly_budget_usd: float
    def __init__(self, tenant_id: _Optional[str] = ..., name: _Optional[str] = ..., limits: _Optional[_Union[_tenancy_pb2.Limits, _Mapping]] = ..., models: _Optional[_Iterable[str]] = ..., expires_at_ms: _Optional[int] = ..., monthly_budget_usd: _Optional[float] = ...) -> None: ...

class ListKeysRequest(_message.Message):
    __slots__ = ("tenant_id", "include_revoked")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_REVOKED_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    include_revoked: bool
    def __init__(self, tenant_id: _Optional[str] = ..., include_revoked: _Optional[bool] = ...) -> None: ...

class ListKeysResponse(_message.Message):
    __slots__ = ("keys",)
    KEYS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedCompositeFieldContainer[_tenancy_pb2.ApiKey]
    def __init__(self, keys: _Optional[_Iterable[_Union[_tenancy_pb2.ApiKey, _Mapping]]] = ...) -> None: ...

class GetKeyRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class UpdateKeyRequest(_message.Message):
    __slots__ = ("id", "name", "limits", "models", "expires_at_ms", "monthly_budget_usd", "clear_monthly_budget")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_MS_FIELD_NUMBER: _ClassVar[int]
    MONTHLY_BUDGET_USD_FIELD_NUMBER: _ClassVar[int]
    CLEAR_MONTHLY_BUDGET_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    limits: _tenancy_pb2.Limits
    models: StringList
    expires_at_ms: int
    monthly_budget_usd: float
    clear_monthly_budget: bool
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., limits: _Optional[_Union[_tenancy_pb2.Limits, _Mapping]] = ..., models: _Optional[_Union[StringList, _Mapping]] = ..., expires_at_ms: _Optional[int] = ..., monthly_budget_usd: _Optional[float] = ..., clear_monthly_budget: _Optional[bool] = ...) -> None: ...

class RevokeKeyRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class RotateKeyRequest(_message.Message):
    __slots__ = ("id", "grace_s")
    ID_FIELD_NUMBER: _ClassVar[int]
    GRACE_S_FIELD_NUMBER: _ClassVar[int]
    id: str
    grace_s: int
    def __init__(self, id: _Optional[str] = ..., grace_s: _Optional[int] = ...) -> None: ...

class ListAuditRequest(_message.Message):
    __slots__ = ("tenant_id", "start_ms", "limit")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    START_MS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    start_ms: int
    limit: int
    def __init__(self, tenant_id: _Optional[str] = ..., start_ms: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class AuditEntry(_message.Message):
    __slots__ = ("id", "at_ms", "actor", "action", "tenant_id", "key_id", "before", "after")
    ID_FIELD_NUMBER: _ClassVar[int]
    AT_MS_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    BEFORE_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    id: int
    at_ms: int
    actor: str
    action: str
    tenant_id: str
    key_id: str
    before: _struct_pb2.Struct
    after: _struct_pb2.Struct
    def __init__(self, id: _Optional[int] = ..., at_ms: _Optional[int] = ..., actor: _Optional[str] = ..., action: _Optional[str] = ..., tenant_id: _Optional[str] = ..., key_id: _Optional[str] = ..., before: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., after: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class ListAuditResponse(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[AuditEntry]
    def __init__(self, entries: _Optional[_Iterable[_Union[AuditEntry, _Mapping]]] = ...) -> None: ...
