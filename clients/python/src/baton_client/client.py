"""The producer side: enqueue jobs, look at them, wait for them."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.duration_pb2 import Duration

from baton.v1 import job_pb2, job_service_pb2_grpc, queue_service_pb2_grpc, schedule_service_pb2_grpc, worker_service_pb2_grpc

from .jobs import Job, JobSpec, is_finished

#: HTTP/2 keepalive PINGs every 10 s even when idle, so a dead broker or a half-open connection
#: is noticed within seconds and a worker reconnects.
KEEPALIVE_OPTIONS = (
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
)

#: Bounds one WaitJob call, so a broker that drops a long request costs little.
WAIT_SLICE_SECONDS = 30


@dataclass(frozen=True)
class Enqueued:
    """The job that now represents an enqueue request."""

    job: Job
    #: True when an unfinished job with the same dedup_key was returned instead of a new one.
    deduplicated: bool


@dataclass(frozen=True)
class EnqueuedId:
    """What enqueue_many_ids answers for each job."""

    id: str
    #: True when an existing job with the same dedup_key was found; id is that job's.
    deduplicated: bool


def _bearer_token_interceptors(token: str) -> list[grpc.aio.ClientInterceptor]:
    """Add "authorization: Bearer <token>" to every call and stream. Interceptors rather than
    call credentials, which gRPC sends only over TLS: brokers inside a cluster often speak h2c.
    One per kind of call: a channel files each interceptor under the first kind it implements."""
    header = ("authorization", f"Bearer {token}")

    def with_token(details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        metadata = grpc.aio.Metadata(*(details.metadata or ()), header)
        return grpc.aio.ClientCallDetails(details.method, details.timeout, metadata, details.credentials, details.wait_for_ready)

    class UnaryUnary(grpc.aio.UnaryUnaryClientInterceptor):
        async def intercept_unary_unary(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
            return await continuation(with_token(client_call_details), request)

    class UnaryStream(grpc.aio.UnaryStreamClientInterceptor):
        async def intercept_unary_stream(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
            return await continuation(with_token(client_call_details), request)

    class StreamUnary(grpc.aio.StreamUnaryClientInterceptor):
        async def intercept_stream_unary(self, continuation: Any, client_call_details: Any, request_iterator: Any) -> Any:
            return await continuation(with_token(client_call_details), request_iterator)

    class StreamStream(grpc.aio.StreamStreamClientInterceptor):
        async def intercept_stream_stream(self, continuation: Any, client_call_details: Any, request_iterator: Any) -> Any:
            return await continuation(with_token(client_call_details), request_iterator)

    return [UnaryUnary(), UnaryStream(), StreamUnary(), StreamStream()]


class Client:
    """An asyncio client of one broker. Share one per process; close it when done.

    ``address`` is "host:port", "http://host:port" (plaintext HTTP/2) or "https://host:port"
    (TLS with the system roots). ``token`` is an API token (from "baton tokens create"), sent as
    "authorization: Bearer <token>" on every call and stream, as a broker with authentication
    on requires; over "http://" it travels in plaintext, so use "https://" wherever the network
    is not trusted.
    """

    def __init__(self, address: str, *, token: str | None = None) -> None:
        target, secure = _parse_address(address)
        interceptors = _bearer_token_interceptors(token) if token else None
        if secure:
            self.channel = grpc.aio.secure_channel(
                target, grpc.ssl_channel_credentials(), options=KEEPALIVE_OPTIONS, interceptors=interceptors
            )
        else:
            self.channel = grpc.aio.insecure_channel(target, options=KEEPALIVE_OPTIONS, interceptors=interceptors)
        #: The generated JobService stub, for RPCs without a helper.
        self.jobs: Any = job_service_pb2_grpc.JobServiceStub(self.channel)  # type: ignore[no-untyped-call]
        #: The generated WorkerService stub.
        self.workers: Any = worker_service_pb2_grpc.WorkerServiceStub(self.channel)  # type: ignore[no-untyped-call]
        #: The generated ScheduleService stub: cron schedules, and pausing, resuming, updating and triggering them.
        self.schedules: Any = schedule_service_pb2_grpc.ScheduleServiceStub(self.channel)  # type: ignore[no-untyped-call]
        #: The generated QueueService stub: counts, settings, pause and resume, and the history of jobs per minute.
        self.queues: Any = queue_service_pb2_grpc.QueueServiceStub(self.channel)  # type: ignore[no-untyped-call]

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.channel.close()

    async def enqueue(self, spec: JobSpec) -> Enqueued:
        """Creates one job."""
        response: job_pb2.EnqueueJobResponse = await self.jobs.EnqueueJob(spec.to_request())
        return Enqueued(response.job, response.deduplicated)

    async def enqueue_many(self, specs: Sequence[JobSpec]) -> list[Enqueued]:
        """Creates all the jobs in one transaction, or none of them."""
        response: job_pb2.EnqueueJobsResponse = await self.jobs.EnqueueJobs(
            job_pb2.EnqueueJobsRequest(jobs=[s.to_request() for s in specs])
        )
        flags = list(response.deduplicated) + [False] * (len(response.jobs) - len(response.deduplicated))
        return [Enqueued(job, flag) for job, flag in zip(response.jobs, flags)]

    async def enqueue_many_ids(self, specs: Sequence[JobSpec]) -> list[EnqueuedId]:
        """enqueue_many answering only each job's id (EnqueueJobs with view JOB_VIEW_ID): the fast
        path for bulk loads, where building and decoding a full Job per entry is most of the call."""
        response: job_pb2.EnqueueJobsResponse = await self.jobs.EnqueueJobs(
            job_pb2.EnqueueJobsRequest(jobs=[s.to_request() for s in specs], view=job_pb2.JOB_VIEW_ID)
        )
        flags = list(response.deduplicated) + [False] * (len(response.job_ids) - len(response.deduplicated))
        return [EnqueuedId(job_id, flag) for job_id, flag in zip(response.job_ids, flags)]

    async def get(self, job_id: str) -> Job:
        """Returns a job by id; raises grpc.aio.AioRpcError (NOT_FOUND) for an unknown id."""
        response: job_pb2.GetJobResponse = await self.jobs.GetJob(job_pb2.GetJobRequest(id=job_id))
        return response.job

    async def wait(self, job_id: str) -> Job:
        """Returns the job once it is SUCCEEDED, DEAD or CANCELLED.

        Long-polls the WaitJob RPC; a broker that answers UNIMPLEMENTED (not every version serves
        WaitJob) is polled with GetJob instead, every 50 ms growing to 1 s. Bound it with
        asyncio.timeout().
        """
        while True:
            try:
                response: job_pb2.WaitJobResponse = await self.jobs.WaitJob(
                    job_pb2.WaitJobRequest(id=job_id, timeout=Duration(seconds=WAIT_SLICE_SECONDS))
                )
            except grpc.aio.AioRpcError as error:
                if error.code() == grpc.StatusCode.UNIMPLEMENTED:
                    return await self._poll_until_finished(job_id)
                raise
            if is_finished(response.job):
                return response.job

    async def wait_chain(self, job_id: str) -> list[Job]:
        """Returns every job of the chain of job_id once all of them are finished (a DAG enqueued
        in one enqueue_many is one chain), newest first. Long-polls WaitJob with chain set and
        pages through the rest of a long chain with ListJobs. Bound it with asyncio.timeout()."""
        while True:
            response: job_pb2.WaitJobResponse = await self.jobs.WaitJob(
                job_pb2.WaitJobRequest(id=job_id, chain=True, timeout=Duration(seconds=WAIT_SLICE_SECONDS))
            )
            if response.timed_out:
                continue
            jobs = list(response.chain_jobs)
            token = response.chain_next_page_token
            while token:
                page: job_pb2.ListJobsResponse = await self.jobs.ListJobs(
                    job_pb2.ListJobsRequest(
                        filter=job_pb2.JobFilter(chain_id=response.job.chain_id), page_size=1000, page_token=token
                    )
                )
                jobs.extend(page.jobs)
                token = page.next_page_token
            return jobs

    async def _poll_until_finished(self, job_id: str) -> Job:
        delay = 0.05
        while True:
            job = await self.get(job_id)
            if is_finished(job):
                return job
            await asyncio.sleep(delay)
            delay = min(1.0, delay * 1.5)


def _parse_address(address: str) -> tuple[str, bool]:
    if address.startswith("https://"):
        return address.removeprefix("https://").rstrip("/"), True
    return address.removeprefix("http://").rstrip("/"), False
