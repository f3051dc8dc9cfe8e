"""Typed jobs: declare a job's queue, payload and result types once, for producer and worker."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Generic, Protocol, TypeVar, cast

from google.protobuf.message import Message

from .client import Client, Enqueued
from .jobs import Job, JobResult, JobSpec
from .outcome import DeadLetter
from .worker import Handler, Task

T = TypeVar("T")
P = TypeVar("P")
R = TypeVar("R")
M = TypeVar("M", bound=Message)


class Codec(Protocol[T]):
    """Turns a payload or result into bytes and back."""

    def encode(self, value: T) -> bytes: ...

    def decode(self, data: bytes) -> T: ...


class ProtoCodec(Generic[M]):
    """A protobuf message type, in its binary encoding."""

    def __init__(self, message_type: type[M]) -> None:
        self.message_type = message_type

    def encode(self, value: M) -> bytes:
        if not isinstance(value, self.message_type):
            raise TypeError(f"expected {self.message_type.__name__}, got {type(value).__name__}")
        return value.SerializeToString()

    def decode(self, data: bytes) -> M:
        return self.message_type.FromString(data)


class JsonCodec(Generic[T]):
    """JSON, the encoding the TypeScript client uses for objects. A dataclass type is encoded
    from and decoded into instances; any other type passes through ``json``."""

    def __init__(self, value_type: type[T]) -> None:
        self.value_type = value_type

    def encode(self, value: T) -> bytes:
        data = dataclasses.asdict(value) if dataclasses.is_dataclass(value) and not isinstance(value, type) else value
        return json.dumps(data, separators=(",", ":")).encode()

    def decode(self, data: bytes) -> T:
        value = json.loads(data) if data else None
        if dataclasses.is_dataclass(self.value_type):
            if not isinstance(value, Mapping):
                raise ValueError(f"expected a JSON object for {self.value_type.__name__}")
            return self.value_type(**value)
        # Plain JSON is taken to be of the declared type, as the producer encoded it.
        return cast(T, value)


class JobType(Generic[P, R]):
    """A kind of job: its queue, how its payload and result are encoded, and an optional
    ``validate`` that raises on a bad payload before it is enqueued and before a handler sees it.
    """

    def __init__(
        self, queue: str, payload: Codec[P], result: Codec[R], validate: Callable[[P], None] | None = None
    ) -> None:
        self.queue = queue
        self.payload_codec = payload
        self.result_codec = result
        self.validate = validate

    @classmethod
    def proto(cls, queue: str, payload: type[P], result: type[R]) -> JobType[P, R]:
        """A job whose payload and result are protobuf messages."""
        return cls(queue, ProtoCodec(payload), ProtoCodec(result))  # type: ignore[type-var]

    @classmethod
    def json(
        cls, queue: str, payload: type[P], result: type[R], validate: Callable[[P], None] | None = None
    ) -> JobType[P, R]:
        """A job whose payload and result are JSON (dataclasses, dicts, lists, ...)."""
        return cls(queue, JsonCodec(payload), JsonCodec(result), validate)

    def spec(self, payload: P, **options: Any) -> JobSpec:
        """Validates and encodes ``payload`` into a job of this type; ``options`` are the other
        JobSpec fields. Use it with Client.enqueue_many and Task.continue_with."""
        if self.validate is not None:
            self.validate(payload)
        return JobSpec(queue=self.queue, payload=self.payload_codec.encode(payload), **options)

    async def enqueue(self, client: Client, payload: P, **options: Any) -> Enqueued:
        return await client.enqueue(self.spec(payload, **options))

    def decode_payload(self, job: Job) -> P:
        payload = self.payload_codec.decode(job.payload)
        if self.validate is not None:
            self.validate(payload)
        return payload

    def decode_result(self, job: Job) -> R:
        return self.result_codec.decode(job.result)

    def decode_depends_on_result(self, result: JobResult) -> R:
        """Reads the result of a blocker of this type, as its dependant's Task.depends_on_results
        carries it. An omitted one raises ValueError: Client.get has it."""
        if result.omitted:
            raise ValueError(
                f"the result of job {result.job_id} was omitted from the delivery (BATON_MAX_DEPENDS_ON_RESULT_BYTES); "
                "read it with Client.get"
            )
        return self.result_codec.decode(result.result)

    def handler(self, fn: Callable[[Task, P], Awaitable[R]]) -> Handler:
        """Adapts a typed coroutine function to a Handler (usable as a decorator). A payload that
        does not decode or validate fails the job for good: running it again cannot help."""

        async def handle(task: Task) -> bytes:
            try:
                payload = self.decode_payload(task.job)
            except Exception as error:
                raise DeadLetter(f"bad {self.queue} payload in job {task.job.id}: {error}") from error
            return self.result_codec.encode(await fn(task, payload))

        return handle


class Router:
    """Runs several job types in one worker: sends each job to the handler of its queue."""

    def __init__(self, handlers: Mapping[str, Handler]) -> None:
        self.handlers = dict(handlers)

    @property
    def queues(self) -> list[str]:
        return sorted(self.handlers)

    async def __call__(self, task: Task) -> bytes | str | None:
        handler = self.handlers.get(task.job.queue)
        if handler is None:
            raise DeadLetter(f"no handler for queue {task.job.queue!r}")
        return await handler(task)
