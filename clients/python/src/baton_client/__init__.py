"""Python client of the Baton job-queue broker (asyncio): a producer and a worker runner."""

from .batch import Batch, BatchHandler, BatchWorker
from .client import Client, Enqueued, EnqueuedId
from .jobs import FINISHED_STATES, DedupPolicy, Job, JobResult, JobSpec, JobState, is_finished
from .outcome import DeadLetter, JobCancelled, LeaseLost, RetryAfter, ShutdownTimeout
from .typed import Codec, JobType, JsonCodec, ProtoCodec, Router
from .worker import Handler, Task, Worker

__all__ = [
    "FINISHED_STATES",
    "Batch",
    "BatchHandler",
    "BatchWorker",
    "Client",
    "Codec",
    "DeadLetter",
    "DedupPolicy",
    "Enqueued",
    "EnqueuedId",
    "Handler",
    "Job",
    "JobCancelled",
    "JobResult",
    "JobSpec",
    "JobState",
    "JobType",
    "JsonCodec",
    "LeaseLost",
    "ProtoCodec",
    "RetryAfter",
    "Router",
    "ShutdownTimeout",
    "Task",
    "Worker",
    "is_finished",
]
