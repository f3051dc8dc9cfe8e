import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Queue(_message.Message):
    __slots__ = ("name", "paused", "scheduled", "available", "blocked", "leased", "succeeded", "dead", "cancelled", "config", "oldest_available_age")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PAUSED_FIELD_NUMBER: _ClassVar[int]
    SCHEDULED_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    BLOCKED_FIELD_NUMBER: _ClassVar[int]
    LEASED_FIELD_NUMBER: _ClassVar[int]
    SUCCEEDED_FIELD_NUMBER: _ClassVar[int]
    DEAD_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    OLDEST_AVAILABLE_AGE_FIELD_NUMBER: _ClassVar[int]
    name: str
    paused: bool
    scheduled: int
    available: int
    blocked: int
    leased: int
    succeeded: int
    dead: int
    cancelled: int
    config: QueueConfig
    oldest_available_age: _duration_pb2.Duration
    def __init__(self, name: _Optional[str] = ..., paused: _Optional[bool] = ..., scheduled: _Optional[int] = ..., available: _Optional[int] = ..., blocked: _Optional[int] = ..., leased: _Optional[int] = ..., succeeded: _Optional[int] = ..., dead: _Optional[int] = ..., cancelled: _Optional[int] = ..., config: _Optional[_Union[QueueConfig, _Mapping]] = ..., oldest_available_age: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class QueueConfig(_message.Message):
    __slots__ = ("max_attempts", "retry_base_delay", "retry_max_delay", "default_timeout", "succeeded_retention", "dead_retention", "cancelled_retention", "lease_duration", "concurrency_limit", "rate_limit", "fairness_key_limit", "fairness_concurrency_limit", "fairness_rate_limit")
    MAX_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    RETRY_BASE_DELAY_FIELD_NUMBER: _ClassVar[int]
    RETRY_MAX_DELAY_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    SUCCEEDED_RETENTION_FIELD_NUMBER: _ClassVar[int]
    DEAD_RETENTION_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_RETENTION_FIELD_NUMBER: _ClassVar[int]
    LEASE_DURATION_FIELD_NUMBER: _ClassVar[int]
    CONCURRENCY_LIMIT_FIELD_NUMBER: _ClassVar[int]
    RATE_LIMIT_FIELD_NUMBER: _ClassVar[int]
    FAIRNESS_KEY_LIMIT_FIELD_NUMBER: _ClassVar[int]
    FAIRNESS_CONCURRENCY_LIMIT_FIELD_NUMBER: _ClassVar[int]
    FAIRNESS_RATE_LIMIT_FIELD_NUMBER: _ClassVar[int]
    max_attempts: int
    retry_base_delay: _duration_pb2.Duration
    retry_max_delay: _duration_pb2.Duration
    default_timeout: _duration_pb2.Duration
    succeeded_retention: _duration_pb2.Duration
    dead_retention: _duration_pb2.Duration
    cancelled_retention: _duration_pb2.Duration
    lease_duration: _duration_pb2.Duration
    concurrency_limit: int
    rate_limit: float
    fairness_key_limit: int
    fairness_concurrency_limit: int
    fairness_rate_limit: float
    def __init__(self, max_attempts: _Optional[int] = ..., retry_base_delay: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., retry_max_delay: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., default_timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., succeeded_retention: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., dead_retention: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., cancelled_retention: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., lease_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., concurrency_limit: _Optional[int] = ..., rate_limit: _Optional[float] = ..., fairness_key_limit: _Optional[int] = ..., fairness_concurrency_limit: _Optional[int] = ..., fairness_rate_limit: _Optional[float] = ...) -> None: ...

class ListQueuesRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListQueuesResponse(_message.Message):
    __slots__ = ("queues", "next_page_token")
    QUEUES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    queues: _containers.RepeatedCompositeFieldContainer[Queue]
    next_page_token: str
    def __init__(self, queues: _Optional[_Iterable[_Union[Queue, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetQueueRequest(_message.Message):
    __slots__ = ("queue",)
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    queue: str
    def __init__(self, queue: _Optional[str] = ...) -> None: ...

class GetQueueResponse(_message.Message):
    __slots__ = ("queue",)
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    queue: Queue
    def __init__(self, queue: _Optional[_Union[Queue, _Mapping]] = ...) -> None: ...

class UpdateQueueRequest(_message.Message):
    __slots__ = ("queue", "config", "update_mask")
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    queue: str
    config: QueueConfig
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, queue: _Optional[str] = ..., config: _Optional[_Union[QueueConfig, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateQueueResponse(_message.Message):
    __slots__ = ("queue",)
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    queue: Queue
    def __init__(self, queue: _Optional[_Union[Queue, _Mapping]] = ...) -> None: ...

class PauseQueueRequest(_message.Message):
    __slots__ = ("queue",)
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    queue: str
    def __init__(self, queue: _Optional[str] = ...) -> None: ...

class PauseQueueResponse(_message.Message):
    __slots__ = ("queue",)
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    queue: Queue
    def __init__(self, queue: _Optional[_Union[Queue, _Mapping]] = ...) -> None: ...

class ResumeQueueRequest(_message.Message):
    __slots__ = ("queue",)
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    queue: str
    def __init__(self, queue: _Optional[str] = ...) -> None: ...

class ResumeQueueResponse(_message.Message):
    __slots__ = ("queue",)
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    queue: Queue
    def __init__(self, queue: _Optional[_Union[Queue, _Mapping]] = ...) -> None: ...

class GetQueueHistoryRequest(_message.Message):
    __slots__ = ("queue", "window", "step")
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    queue: str
    window: _duration_pb2.Duration
    step: _duration_pb2.Duration
    def __init__(self, queue: _Optional[str] = ..., window: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., step: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class GetQueueHistoryResponse(_message.Message):
    __slots__ = ("points", "step")
    POINTS_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    points: _containers.RepeatedCompositeFieldContainer[QueueHistoryPoint]
    step: _duration_pb2.Duration
    def __init__(self, points: _Optional[_Iterable[_Union[QueueHistoryPoint, _Mapping]]] = ..., step: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class QueueHistoryPoint(_message.Message):
    __slots__ = ("start_time", "enqueued", "succeeded", "retried", "dead", "cancelled")
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    ENQUEUED_FIELD_NUMBER: _ClassVar[int]
    SUCCEEDED_FIELD_NUMBER: _ClassVar[int]
    RETRIED_FIELD_NUMBER: _ClassVar[int]
    DEAD_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_FIELD_NUMBER: _ClassVar[int]
    start_time: _timestamp_pb2.Timestamp
    enqueued: int
    succeeded: int
    retried: int
    dead: int
    cancelled: int
    def __init__(self, start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., enqueued: _Optional[int] = ..., succeeded: _Optional[int] = ..., retried: _Optional[int] = ..., dead: _Optional[int] = ..., cancelled: _Optional[int] = ...) -> None: ...
