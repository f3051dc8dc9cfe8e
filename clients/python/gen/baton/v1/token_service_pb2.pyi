from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TokenRole(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TOKEN_ROLE_UNSPECIFIED: _ClassVar[TokenRole]
    TOKEN_ROLE_ADMIN: _ClassVar[TokenRole]
    TOKEN_ROLE_PRODUCER: _ClassVar[TokenRole]
    TOKEN_ROLE_WORKER: _ClassVar[TokenRole]
    TOKEN_ROLE_VIEWER: _ClassVar[TokenRole]
TOKEN_ROLE_UNSPECIFIED: TokenRole
TOKEN_ROLE_ADMIN: TokenRole
TOKEN_ROLE_PRODUCER: TokenRole
TOKEN_ROLE_WORKER: TokenRole
TOKEN_ROLE_VIEWER: TokenRole

class GetCurrentTokenRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetCurrentTokenResponse(_message.Message):
    __slots__ = ("authentication", "name", "role", "queues")
    AUTHENTICATION_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    QUEUES_FIELD_NUMBER: _ClassVar[int]
    authentication: bool
    name: str
    role: TokenRole
    queues: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, authentication: _Optional[bool] = ..., name: _Optional[str] = ..., role: _Optional[_Union[TokenRole, str]] = ..., queues: _Optional[_Iterable[str]] = ...) -> None: ...
