import datetime

from baton.v1 import job_pb2 as _job_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SubscribeRequest(_message.Message):
    __slots__ = ("hello", "credit", "ack", "nack", "progress", "pong", "settle", "drain")
    class Hello(_message.Message):
        __slots__ = ("worker_id", "queues", "max_in_flight", "resume", "resume_grace", "batch", "credit_on_settle", "lean_jobs")
        WORKER_ID_FIELD_NUMBER: _ClassVar[int]
        QUEUES_FIELD_NUMBER: _ClassVar[int]
        MAX_IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
        RESUME_FIELD_NUMBER: _ClassVar[int]
        RESUME_GRACE_FIELD_NUMBER: _ClassVar[int]
        BATCH_FIELD_NUMBER: _ClassVar[int]
        CREDIT_ON_SETTLE_FIELD_NUMBER: _ClassVar[int]
        LEAN_JOBS_FIELD_NUMBER: _ClassVar[int]
        worker_id: str
        queues: _containers.RepeatedScalarFieldContainer[str]
        max_in_flight: int
        resume: _containers.RepeatedCompositeFieldContainer[LeaseRef]
        resume_grace: _duration_pb2.Duration
        batch: bool
        credit_on_settle: bool
        lean_jobs: bool
        def __init__(self, worker_id: _Optional[str] = ..., queues: _Optional[_Iterable[str]] = ..., max_in_flight: _Optional[int] = ..., resume: _Optional[_Iterable[_Union[LeaseRef, _Mapping]]] = ..., resume_grace: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., batch: _Optional[bool] = ..., credit_on_settle: _Optional[bool] = ..., lean_jobs: _Optional[bool] = ...) -> None: ...
    class Credit(_message.Message):
        __slots__ = ("n",)
        N_FIELD_NUMBER: _ClassVar[int]
        n: int
        def __init__(self, n: _Optional[int] = ...) -> None: ...
    class Ack(_message.Message):
        __slots__ = ("job_id", "lease_token", "result", "continue_with")
        JOB_ID_FIELD_NUMBER: _ClassVar[int]
        LEASE_TOKEN_FIELD_NUMBER: _ClassVar[int]
        RESULT_FIELD_NUMBER: _ClassVar[int]
        CONTINUE_WITH_FIELD_NUMBER: _ClassVar[int]
        job_id: str
        lease_token: str
        result: bytes
        continue_with: _containers.RepeatedCompositeFieldContainer[_job_pb2.EnqueueJobRequest]
        def __init__(self, job_id: _Optional[str] = ..., lease_token: _Optional[str] = ..., result: _Optional[bytes] = ..., continue_with: _Optional[_Iterable[_Union[_job_pb2.EnqueueJobRequest, _Mapping]]] = ...) -> None: ...
    class Nack(_message.Message):
        __slots__ = ("job_id", "lease_token", "error", "retry_delay", "dead_letter")
        JOB_ID_FIELD_NUMBER: _ClassVar[int]
        LEASE_TOKEN_FIELD_NUMBER: _ClassVar[int]
        ERROR_FIELD_NUMBER: _ClassVar[int]
        RETRY_DELAY_FIELD_NUMBER: _ClassVar[int]
        DEAD_LETTER_FIELD_NUMBER: _ClassVar[int]
        job_id: str
        lease_token: str
        error: str
        retry_delay: _duration_pb2.Duration
        dead_letter: bool
        def __init__(self, job_id: _Optional[str] = ..., lease_token: _Optional[str] = ..., error: _Optional[str] = ..., retry_delay: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., dead_letter: _Optional[bool] = ...) -> None: ...
    class Progress(_message.Message):
        __slots__ = ("job_id", "lease_token", "percent", "message")
        JOB_ID_FIELD_NUMBER: _ClassVar[int]
        LEASE_TOKEN_FIELD_NUMBER: _ClassVar[int]
        PERCENT_FIELD_NUMBER: _ClassVar[int]
        MESSAGE_FIELD_NUMBER: _ClassVar[int]
        job_id: str
        lease_token: str
        percent: int
        message: str
        def __init__(self, job_id: _Optional[str] = ..., lease_token: _Optional[str] = ..., percent: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...
    class Pong(_message.Message):
        __slots__ = ()
        def __init__(self) -> None: ...
    class Drain(_message.Message):
        __slots__ = ()
        def __init__(self) -> None: ...
    class Settle(_message.Message):
        __slots__ = ("acks", "nacks", "progress")
        ACKS_FIELD_NUMBER: _ClassVar[int]
        NACKS_FIELD_NUMBER: _ClassVar[int]
        PROGRESS_FIELD_NUMBER: _ClassVar[int]
        acks: _containers.RepeatedCompositeFieldContainer[SubscribeRequest.Ack]
        nacks: _containers.RepeatedCompositeFieldContainer[SubscribeRequest.Nack]
        progress: _containers.RepeatedCompositeFieldContainer[SubscribeRequest.Progress]
        def __init__(self, acks: _Optional[_Iterable[_Union[SubscribeRequest.Ack, _Mapping]]] = ..., nacks: _Optional[_Iterable[_Union[SubscribeRequest.Nack, _Mapping]]] = ..., progress: _Optional[_Iterable[_Union[SubscribeRequest.Progress, _Mapping]]] = ...) -> None: ...
    HELLO_FIELD_NUMBER: _ClassVar[int]
    CREDIT_FIELD_NUMBER: _ClassVar[int]
    ACK_FIELD_NUMBER: _ClassVar[int]
    NACK_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    PONG_FIELD_NUMBER: _ClassVar[int]
    SETTLE_FIELD_NUMBER: _ClassVar[int]
    DRAIN_FIELD_NUMBER: _ClassVar[int]
    hello: SubscribeRequest.Hello
    credit: SubscribeRequest.Credit
    ack: SubscribeRequest.Ack
    nack: SubscribeRequest.Nack
    progress: SubscribeRequest.Progress
    pong: SubscribeRequest.Pong
    settle: SubscribeRequest.Settle
    drain: SubscribeRequest.Drain
    def __init__(self, hello: _Optional[_Union[SubscribeRequest.Hello, _Mapping]] = ..., credit: _Optional[_Union[SubscribeRequest.Credit, _Mapping]] = ..., ack: _Optional[_Union[SubscribeRequest.Ack, _Mapping]] = ..., nack: _Optional[_Union[SubscribeRequest.Nack, _Mapping]] = ..., progress: _Optional[_Union[SubscribeRequest.Progress, _Mapping]] = ..., pong: _Optional[_Union[SubscribeRequest.Pong, _Mapping]] = ..., settle: _Optional[_Union[SubscribeRequest.Settle, _Mapping]] = ..., drain: _Optional[_Union[SubscribeRequest.Drain, _Mapping]] = ...) -> None: ...

class LeaseRef(_message.Message):
    __slots__ = ("job_id", "lease_token")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    LEASE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    lease_token: str
    def __init__(self, job_id: _Optional[str] = ..., lease_token: _Optional[str] = ...) -> None: ...

class SubscribeResponse(_message.Message):
    __slots__ = ("welcome", "job", "cancel", "lease_lost", "settled", "ping", "jobs", "settled_batch")
    class Welcome(_message.Message):
        __slots__ = ("session_id", "lease_duration", "resumed")
        SESSION_ID_FIELD_NUMBER: _ClassVar[int]
        LEASE_DURATION_FIELD_NUMBER: _ClassVar[int]
        RESUMED_FIELD_NUMBER: _ClassVar[int]
        session_id: str
        lease_duration: _duration_pb2.Duration
        resumed: _containers.RepeatedCompositeFieldContainer[LeaseRef]
        def __init__(self, session_id: _Optional[str] = ..., lease_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., resumed: _Optional[_Iterable[_Union[LeaseRef, _Mapping]]] = ...) -> None: ...
    class JobDelivery(_message.Message):
        __slots__ = ("job", "lease_token", "lease_expire_time", "depends_on_results")
        JOB_FIELD_NUMBER: _ClassVar[int]
        LEASE_TOKEN_FIELD_NUMBER: _ClassVar[int]
        LEASE_EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
        DEPENDS_ON_RESULTS_FIELD_NUMBER: _ClassVar[int]
        job: _job_pb2.Job
        lease_token: str
        lease_expire_time: _timestamp_pb2.Timestamp
        depends_on_results: _containers.RepeatedCompositeFieldContainer[_job_pb2.JobResult]
        def __init__(self, job: _Optional[_Union[_job_pb2.Job, _Mapping]] = ..., lease_token: _Optional[str] = ..., lease_expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., depends_on_results: _Optional[_Iterable[_Union[_job_pb2.JobResult, _Mapping]]] = ...) -> None: ...
    class Cancel(_message.Message):
        __slots__ = ("job_id",)
        JOB_ID_FIELD_NUMBER: _ClassVar[int]
        job_id: str
        def __init__(self, job_id: _Optional[str] = ...) -> None: ...
    class LeaseLost(_message.Message):
        __slots__ = ("job_id",)
        JOB_ID_FIELD_NUMBER: _ClassVar[int]
        job_id: str
        def __init__(self, job_id: _Optional[str] = ...) -> None: ...
    class Settled(_message.Message):
        __slots__ = ("job_id", "ok", "error")
        JOB_ID_FIELD_NUMBER: _ClassVar[int]
        OK_FIELD_NUMBER: _ClassVar[int]
        ERROR_FIELD_NUMBER: _ClassVar[int]
        job_id: str
        ok: bool
        error: str
        def __init__(self, job_id: _Optional[str] = ..., ok: _Optional[bool] = ..., error: _Optional[str] = ...) -> None: ...
    class Ping(_message.Message):
        __slots__ = ()
        def __init__(self) -> None: ...
    class JobBatch(_message.Message):
        __slots__ = ("deliveries",)
        DELIVERIES_FIELD_NUMBER: _ClassVar[int]
        deliveries: _containers.RepeatedCompositeFieldContainer[SubscribeResponse.JobDelivery]
        def __init__(self, deliveries: _Optional[_Iterable[_Union[SubscribeResponse.JobDelivery, _Mapping]]] = ...) -> None: ...
    class SettledBatch(_message.Message):
        __slots__ = ("committed", "refused")
        COMMITTED_FIELD_NUMBER: _ClassVar[int]
        REFUSED_FIELD_NUMBER: _ClassVar[int]
        committed: _containers.RepeatedScalarFieldContainer[str]
        refused: _containers.RepeatedCompositeFieldContainer[SubscribeResponse.Settled]
        def __init__(self, committed: _Optional[_Iterable[str]] = ..., refused: _Optional[_Iterable[_Union[SubscribeResponse.Settled, _Mapping]]] = ...) -> None: ...
    WELCOME_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    CANCEL_FIELD_NUMBER: _ClassVar[int]
    LEASE_LOST_FIELD_NUMBER: _ClassVar[int]
    SETTLED_FIELD_NUMBER: _ClassVar[int]
    PING_FIELD_NUMBER: _ClassVar[int]
    JOBS_FIELD_NUMBER: _ClassVar[int]
    SETTLED_BATCH_FIELD_NUMBER: _ClassVar[int]
    welcome: SubscribeResponse.Welcome
    job: SubscribeResponse.JobDelivery
    cancel: SubscribeResponse.Cancel
    lease_lost: SubscribeResponse.LeaseLost
    settled: SubscribeResponse.Settled
    ping: SubscribeResponse.Ping
    jobs: SubscribeResponse.JobBatch
    settled_batch: SubscribeResponse.SettledBatch
    def __init__(self, welcome: _Optional[_Union[SubscribeResponse.Welcome, _Mapping]] = ..., job: _Optional[_Union[SubscribeResponse.JobDelivery, _Mapping]] = ..., cancel: _Optional[_Union[SubscribeResponse.Cancel, _Mapping]] = ..., lease_lost: _Optional[_Union[SubscribeResponse.LeaseLost, _Mapping]] = ..., settled: _Optional[_Union[SubscribeResponse.Settled, _Mapping]] = ..., ping: _Optional[_Union[SubscribeResponse.Ping, _Mapping]] = ..., jobs: _Optional[_Union[SubscribeResponse.JobBatch, _Mapping]] = ..., settled_batch: _Optional[_Union[SubscribeResponse.SettledBatch, _Mapping]] = ...) -> None: ...

class ListWorkersRequest(_message.Message):
    __slots__ = ("queue",)
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    queue: str
    def __init__(self, queue: _Optional[str] = ...) -> None: ...

class ListWorkersResponse(_message.Message):
    __slots__ = ("workers",)
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    workers: _containers.RepeatedCompositeFieldContainer[Worker]
    def __init__(self, workers: _Optional[_Iterable[_Union[Worker, _Mapping]]] = ...) -> None: ...

class Worker(_message.Message):
    __slots__ = ("worker_id", "session_id", "queues", "in_flight", "max_in_flight", "connect_time", "last_seen_time", "replica")
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    QUEUES_FIELD_NUMBER: _ClassVar[int]
    IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    MAX_IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    CONNECT_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_TIME_FIELD_NUMBER: _ClassVar[int]
    REPLICA_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    session_id: str
    queues: _containers.RepeatedScalarFieldContainer[str]
    in_flight: int
    max_in_flight: int
    connect_time: _timestamp_pb2.Timestamp
    last_seen_time: _timestamp_pb2.Timestamp
    replica: str
    def __init__(self, worker_id: _Optional[str] = ..., session_id: _Optional[str] = ..., queues: _Optional[_Iterable[str]] = ..., in_flight: _Optional[int] = ..., max_in_flight: _Optional[int] = ..., connect_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_seen_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., replica: _Optional[str] = ...) -> None: ...
