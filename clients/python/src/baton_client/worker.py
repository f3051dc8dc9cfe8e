"""The worker side: run a handler for every job of some queues over one Subscribe stream."""

from __future__ import annotations

import asyncio
import enum
import logging
import os
import random
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field

import grpc

from baton.v1 import job_pb2, worker_service_pb2 as pb

from .client import Client
from .jobs import Job, JobResult, JobSpec
from .outcome import DeadLetter, JobCancelled, LeaseLost, RetryAfter, ShutdownTimeout
from .settle import pack_settlements

log = logging.getLogger("baton_client")

Result = bytes | str | None
Handler = Callable[["Task"], Awaitable[Result]]


class Task:
    """A job being run by a handler, with the means to report on it."""

    def __init__(self, job: Job, worker: Worker, held: _Held) -> None:
        #: The job as delivered (lean): id, queue, payload, headers, priority, attempt (1 on the
        #: first run), max_attempts, chain and parent ids, timeout and lease_expire_time (the
        #: lease's end at delivery; the broker renews it). The fields that describe the job's
        #: history rather than this attempt (state, times, dedup_key, fairness_key, depends_on,
        #: progress, errors, last_error) are unset; Client.get has them.
        self.job = job
        self._worker = worker
        self._held = held
        self._next: list[job_pb2.EnqueueJobRequest] = []

    @property
    def depends_on_results(self) -> list[JobResult]:
        """What the job's blockers (depends_on, depends_on_index) returned, in the order of the
        job's depends_on; empty for a job without blockers. An entry with `omitted` set carries no
        result (past the broker's BATON_MAX_DEPENDS_ON_RESULT_BYTES): Client.get has it.
        JobType.decode_depends_on_result decodes an entry."""
        return self._held.depends_on_results

    @property
    def cancel_reason(self) -> Exception | None:
        """Why the handler was cancelled: JobCancelled, LeaseLost or ShutdownTimeout; else None."""
        return self._held.cancel_reason

    def progress(self, percent: int, message: str = "") -> None:
        """Reports how far the job has come; only the latest report is kept. Dropped while the
        worker is reconnecting."""
        if self._worker._held.get(self.job.id) is self._held:
            self._worker._send(
                pb.SubscribeRequest(
                    progress=pb.SubscribeRequest.Progress(
                        job_id=self.job.id, lease_token=self._held.token, percent=int(percent), message=message
                    )
                )
            )

    def continue_with(self, *specs: JobSpec) -> None:
        """Adds jobs that the broker creates in the same transaction as this job's ack, in the
        same chain, with this job as their parent. They are dropped if the handler fails."""
        for spec in specs:
            request = spec.to_request()
            # Named explicitly: the broker takes a continuation without chain_id as a new chain.
            if not request.chain_id:
                request.chain_id = self.job.chain_id
            self._next.append(request)


@dataclass
class _Held:
    """A job the worker holds a lease on: running, or finished and awaiting `settled`."""

    job: Job
    token: str
    #: JobDelivery.depends_on_results.
    depends_on_results: list[JobResult] = field(default_factory=list)
    runner: asyncio.Task[None] | None = None
    #: Why the handler was cancelled by the broker, if it was.
    cancel_reason: Exception | None = None
    #: The ack or nack, kept until settled so it can be sent again after a resume.
    outcome: pb.SubscribeRequest | None = None


class _WireForm(enum.Enum):
    """Which form of the worker protocol the broker speaks on a stream. The hello asks for the
    batched form; a broker that predates it ignores the request and delivers single ``job``
    messages, and the stream then falls back to single settlements and credit messages."""

    #: Nothing delivered yet. Settlements go out singly, which every broker takes.
    UNKNOWN = enum.auto()
    BATCHED = enum.auto()
    SINGLE = enum.auto()


_DRAIN = pb.SubscribeRequest(drain=pb.SubscribeRequest.Drain())


@dataclass
class _Outbox:
    """Requests for one stream, written by gRPC from the iterator; put() never blocks. Whatever
    accumulated while gRPC was writing goes out together: in the batched form, all pending
    settlements in as few ``settle`` messages as the caps allow."""

    queue: asyncio.Queue[pb.SubscribeRequest | None] = field(default_factory=asyncio.Queue)
    closed: bool = False
    form: _WireForm = _WireForm.UNKNOWN
    #: The worker is stopping and wants no more deliveries.
    draining: bool = False

    def put(self, message: pb.SubscribeRequest) -> None:
        """Queues hello, pong, or a single ack, nack or progress report (settlement)."""
        if not self.closed:
            self.queue.put_nowait(message)

    def observe(self, response: pb.SubscribeResponse) -> None:
        """Learns the broker's wire form from what it sends."""
        kind = response.WhichOneof("message")
        if kind in ("jobs", "settled_batch"):
            if self.form is not _WireForm.BATCHED and self.draining:
                self.put(_DRAIN)
            self.form = _WireForm.BATCHED
        elif kind == "job" and self.form is _WireForm.UNKNOWN:
            self.form = _WireForm.SINGLE

    def drain(self) -> None:
        """Asks the broker for no more deliveries: the worker is stopping. Only a broker that
        speaks the batched form knows the message (an older one would end the stream over it),
        so it is sent once the broker has shown its form; in the single form a stopping worker
        simply returns no more credit."""
        if not self.draining and self.form is _WireForm.BATCHED:
            self.put(_DRAIN)
        self.draining = True

    def slot_freed(self) -> None:
        """Gives the broker room for one more delivery after a job finished. In the batched form
        the broker returns the credit itself when the job's settlement arrives
        (hello.credit_on_settle); a broker speaking the single form needs a credit message."""
        if self.form is _WireForm.SINGLE:
            self.put(pb.SubscribeRequest(credit=pb.SubscribeRequest.Credit(n=1)))

    def close(self) -> None:
        """Half-closes the stream once everything queued is written; the broker then ends it."""
        if not self.closed:
            self.closed = True
            self.queue.put_nowait(None)

    async def __aiter__(self) -> AsyncIterator[pb.SubscribeRequest]:
        while True:
            pending = [await self.queue.get()]
            while not self.queue.empty():
                pending.append(self.queue.get_nowait())
            # close() queues None last, and nothing after it.
            messages = [message for message in pending if message is not None]
            for message in pack_settlements(messages) if self.form is _WireForm.BATCHED else messages:
                yield message
            if pending[-1] is None:
                return


class Worker:
    """Runs ``handler`` for the jobs of ``queues`` (asyncio).

    The broker renews the leases of a live stream itself, so handlers never heartbeat. When the
    stream drops, running handlers keep going while the worker reconnects with jittered backoff
    and asks to resume their leases; the broker's welcome says which it kept, and the handlers
    of the others are cancelled (``task`` raises CancelledError at its next await).

    A handler returns the job's result (bytes, str or None) or raises to fail the attempt; see
    RetryAfter and DeadLetter. CancelJob cancels the handler's asyncio task.

    Options:
      concurrency: jobs run at once; also the stream's max_in_flight.
      burst: run() returns once the queues are drained: nothing is running and no job has been
        delivered for ``burst_idle`` seconds although the worker had free credit. Jobs that
        become due later (delayed jobs, retries waiting out their backoff) are left for the
        next run.
      resume_grace: how long (seconds) the broker keeps this worker's leases when its stream
        breaks, so that the worker can reconnect and resume its running jobs instead of having
        them run again elsewhere; also how long the jobs of a crashed worker wait before another
        worker gets them. The broker caps it. Default 0: leases are released at once (a
        reconnect may still resume those the broker has not released yet).
      shutdown_timeout: after stop(), how long running handlers may take before they are
        cancelled and their jobs left to the broker.
    """

    def __init__(
        self,
        client: Client,
        queues: Sequence[str],
        handler: Handler,
        *,
        concurrency: int = 10,
        worker_id: str | None = None,
        burst: bool = False,
        burst_idle: float = 1.0,
        resume_grace: float = 0.0,
        shutdown_timeout: float = 30.0,
        min_backoff: float = 0.1,
        max_backoff: float = 5.0,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        if not queues:
            raise ValueError("queues must name at least one queue")
        self._client = client
        self._queues = list(queues)
        self._handler = handler
        self._concurrency = concurrency
        self._worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}"
        self._burst = burst
        self._burst_idle = burst_idle
        self._resume_grace = resume_grace
        self._shutdown_timeout = shutdown_timeout
        self._min_backoff = min_backoff
        self._max_backoff = max_backoff
        self._on_error = on_error or (lambda error: log.warning("baton worker: %s", error))
        self._held: dict[str, _Held] = {}
        self._outbox: _Outbox | None = None  # the welcomed stream's, None while disconnected
        self._call: grpc.aio.StreamStreamCall[pb.SubscribeRequest, pb.SubscribeResponse] | None = None
        self._stopping = False
        self._hard_stopped = asyncio.Event()
        self._last_activity = 0.0

    def stop(self) -> None:
        """Begins a graceful stop: no new work; running handlers finish and their outcomes are
        committed, then run() returns."""
        if self._stopping:
            return
        self._stopping = True
        if self._outbox is not None:
            self._outbox.drain()
        asyncio.get_running_loop().call_later(self._shutdown_timeout, self._force_stop)
        self._close_if_done()

    async def run(self) -> None:
        """Processes jobs until stop() (or, in burst mode, until the queues are drained).

        Raises ShutdownTimeout if handlers outlived shutdown_timeout after stop().
        """
        drain_watch = asyncio.create_task(self._watch_for_drain()) if self._burst else None
        failures = 0
        try:
            while not (self._stopping and not self._held):
                loop = asyncio.get_running_loop()
                started = loop.time()
                error: BaseException | None = None
                try:
                    await self._run_stream()
                except grpc.aio.AioRpcError as rpc_error:
                    error = rpc_error
                if self._stopping and not self._held:
                    return
                if self._hard_stopped.is_set():
                    raise ShutdownTimeout(f"{len(self._held)} jobs were still running")
                if error is not None and not self._hard_stopped.is_set():
                    self._on_error(error)
                # A stream that lived a while was healthy: start the backoff over.
                if loop.time() - started > 30:
                    failures = 0
                delay = min(self._max_backoff, self._min_backoff * 2 ** min(failures, 20))
                failures += 1
                try:
                    await asyncio.wait_for(self._hard_stopped.wait(), delay * (0.5 + random.random() / 2))
                except TimeoutError:
                    pass
        finally:
            if drain_watch is not None:
                drain_watch.cancel()

    async def _run_stream(self) -> None:
        outbox = _Outbox()
        resume = [pb.LeaseRef(job_id=job_id, lease_token=held.token) for job_id, held in self._held.items()]
        hello = pb.SubscribeRequest.Hello(
            worker_id=self._worker_id,
            queues=self._queues,
            max_in_flight=self._concurrency,
            resume=resume,
            batch=True,
            credit_on_settle=True,
            lean_jobs=True,
        )
        if self._resume_grace > 0:
            hello.resume_grace.FromMilliseconds(int(self._resume_grace * 1000))
        outbox.put(pb.SubscribeRequest(hello=hello))
        call = self._client.workers.Subscribe(aiter(outbox))
        self._call = call
        try:
            async for response in call:
                outbox.observe(response)
                self._handle(outbox, response)
        except asyncio.CancelledError:
            # A hard stop cancels the call; anything else cancelling run() propagates.
            if not self._hard_stopped.is_set():
                raise
        finally:
            self._call = None
            outbox.close()
            if self._outbox is outbox:
                self._outbox = None

    def _handle(self, outbox: _Outbox, response: pb.SubscribeResponse) -> None:
        kind = response.WhichOneof("message")
        if kind == "welcome":
            self._welcome(outbox, {lease.job_id: lease.lease_token for lease in response.welcome.resumed})
        elif kind == "jobs":
            for delivery in response.jobs.deliveries:
                self._start(delivery)
        elif kind == "job":
            self._start(response.job)
        elif kind == "cancel":
            self._interrupt(response.cancel.job_id, JobCancelled(f"job {response.cancel.job_id} cancelled"))
        elif kind == "lease_lost":
            held = self._held.pop(response.lease_lost.job_id, None)
            if held is not None:
                self._lose_lease(held, LeaseLost(f"lease of job {held.job.id} lost"))
            self._close_if_done()
        elif kind == "settled_batch":
            self._settled(response.settled_batch.committed, response.settled_batch.refused)
        elif kind == "settled":
            settled = response.settled
            if settled.ok:
                self._settled([settled.job_id], [])
            else:
                self._settled([], [settled])
        elif kind == "ping":
            outbox.put(pb.SubscribeRequest(pong=pb.SubscribeRequest.Pong()))

    def _welcome(self, outbox: _Outbox, resumed: dict[str, str]) -> None:
        """Adopts the stream. Resumed leases come with fresh tokens; the others are gone. The
        outcomes of resumed jobs that finished while disconnected are sent again."""
        self._outbox = outbox
        # A worker that reconnects only to settle what it holds takes nothing new.
        if self._stopping:
            outbox.drain()
        self._last_activity = asyncio.get_running_loop().time()
        for job_id, held in list(self._held.items()):
            if job_id not in resumed:
                del self._held[job_id]
                self._lose_lease(held, LeaseLost(f"lease of job {job_id} lost while reconnecting"))
                continue
            held.token = resumed[job_id]
            if held.outcome is not None:
                _set_lease_token(held.outcome, held.token)
                outbox.put(held.outcome)
        self._close_if_done()

    def _start(self, delivery: pb.SubscribeResponse.JobDelivery) -> None:
        job = delivery.job
        # A lean job leaves the lease's end to the delivery.
        if not job.HasField("lease_expire_time"):
            job.lease_expire_time.CopyFrom(delivery.lease_expire_time)
        held = _Held(job=job, token=delivery.lease_token, depends_on_results=list(delivery.depends_on_results))
        self._held[job.id] = held
        self._last_activity = asyncio.get_running_loop().time()
        self._dispatch(held)

    def _dispatch(self, held: _Held) -> None:
        """Runs the handler for a delivered job; BatchWorker gathers jobs into batches instead."""
        held.runner = asyncio.create_task(self._run_job(held))

    async def _run_job(self, held: _Held) -> None:
        task = Task(held.job, self, held)
        try:
            result = await self._handler(task)
            outcome = _ack(held, _encode_result(result), task._next)
        except asyncio.CancelledError:
            if held.cancel_reason is None:
                raise
            outcome = _nack(held, held.cancel_reason)
        except Exception as error:  # noqa: BLE001 - any failure of a handler fails the attempt
            outcome = _nack(held, error)
        self._settle(held, outcome)

    def _settle(self, held: _Held, outcome: pb.SubscribeRequest) -> None:
        # A job whose lease was lost meanwhile is no longer ours to settle.
        if self._held.get(held.job.id) is held:
            held.outcome = outcome
            self._send(outcome)
        # The slot is free again: room for one more delivery, unless the worker is winding down.
        if not self._stopping and self._outbox is not None:
            self._outbox.slot_freed()

    def _interrupt(self, job_id: str, reason: Exception) -> None:
        held = self._held.get(job_id)
        if held is not None and held.outcome is None:
            self._cancel(held, reason)

    def _lose_lease(self, held: _Held, reason: LeaseLost) -> None:
        """The job is no longer this worker's: its handler is cancelled."""
        self._cancel(held, reason)

    @staticmethod
    def _cancel(held: _Held, reason: Exception) -> None:
        if held.runner is None:
            # A job of a batch: the batch's other jobs run on; its handler reads cancel_reason.
            held.cancel_reason = reason
        elif not held.runner.done():
            held.cancel_reason = reason
            held.runner.cancel()

    def _settled(self, committed: Iterable[str], refused: Iterable[pb.SubscribeResponse.Settled]) -> None:
        """Forgets the jobs whose outcome the broker committed or refused; a refused one is the
        broker's again. A refused progress report leaves its running job alone."""
        for refusal in refused:
            self._on_error(RuntimeError(f"job {refusal.job_id} not settled: {refusal.error}"))
        for job_id in [*committed, *(refusal.job_id for refusal in refused)]:
            held = self._held.get(job_id)
            if held is not None and held.outcome is not None:
                del self._held[job_id]
        self._last_activity = asyncio.get_running_loop().time()
        self._close_if_done()

    def _send(self, message: pb.SubscribeRequest) -> None:
        if self._outbox is not None:
            self._outbox.put(message)

    def _close_if_done(self) -> None:
        if self._stopping and not self._held and self._outbox is not None:
            self._outbox.close()

    def _force_stop(self) -> None:
        """Cancels the handlers that outlived the shutdown timeout and drops the stream; the
        broker releases their jobs to other workers."""
        if not self._held:
            return
        for held in self._held.values():
            self._cancel(held, ShutdownTimeout("worker stopped"))
        self._hard_stopped.set()
        if self._call is not None:
            self._call.cancel()

    async def _watch_for_drain(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stopping:
            await asyncio.sleep(self._burst_idle / 4)
            idle = loop.time() - self._last_activity
            if self._outbox is not None and not self._held and idle >= self._burst_idle:
                self.stop()


def _encode_result(result: Result) -> bytes:
    if result is None:
        return b""
    return result.encode() if isinstance(result, str) else bytes(result)


def _ack(held: _Held, result: bytes, next_jobs: list[job_pb2.EnqueueJobRequest]) -> pb.SubscribeRequest:
    return pb.SubscribeRequest(
        ack=pb.SubscribeRequest.Ack(job_id=held.job.id, lease_token=held.token, result=result, continue_with=next_jobs)
    )


def _set_lease_token(outcome: pb.SubscribeRequest, token: str) -> None:
    """Points a kept ack or nack at the fresh token a resume handed out."""
    getattr(outcome, outcome.WhichOneof("message")).lease_token = token


def _nack(held: _Held, error: BaseException) -> pb.SubscribeRequest:
    nack = pb.SubscribeRequest.Nack(job_id=held.job.id, lease_token=held.token, error=str(error) or type(error).__name__)
    if isinstance(error, DeadLetter):
        nack.dead_letter = True
    if isinstance(error, RetryAfter):
        nack.retry_delay.FromTimedelta(error.delay)
    return pb.SubscribeRequest(nack=nack)
