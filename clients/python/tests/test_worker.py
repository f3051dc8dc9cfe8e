import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from google.protobuf.wrappers_pb2 import StringValue

from baton.v1 import job_pb2
from baton_client import (
    Client, DeadLetter, Job, JobCancelled, JobSpec, JobState, JobType, RetryAfter, Router, Task, Worker,
)


@asynccontextmanager
async def running(worker: Worker) -> AsyncIterator[asyncio.Task[None]]:
    """Runs the worker for the block, then stops it gracefully."""
    run = asyncio.create_task(worker.run())
    try:
        yield run
    finally:
        worker.stop()
        async with asyncio.timeout(40):
            await run


async def finished(client: Client, job_id: str) -> Job:
    async with asyncio.timeout(30):
        return await client.wait(job_id)


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    async with asyncio.timeout(10):
        while not await check():
            await asyncio.sleep(0.02)


async def test_typed_job_ack_with_result_and_continuation(client: Client, queue: str) -> None:
    greet = JobType.proto(queue, StringValue, StringValue)
    shout = JobType.proto(queue + "-shout", StringValue, StringValue)

    @greet.handler
    async def on_greet(task: Task, name: StringValue) -> StringValue:
        task.continue_with(shout.spec(StringValue(value=f"hello {name.value}")))
        return StringValue(value=f"greeted {name.value}")

    @shout.handler
    async def on_shout(task: Task, text: StringValue) -> StringValue:
        return StringValue(value=text.value.upper())

    router = Router({greet.queue: on_greet, shout.queue: on_shout})
    async with running(Worker(client, router.queues, router)):
        enqueued = await greet.enqueue(client, StringValue(value="ada"))
        root = await finished(client, enqueued.job.id)
        assert root.state == JobState.JOB_STATE_SUCCEEDED
        assert greet.decode_result(root).value == "greeted ada"
        chain = await client.jobs.ListJobs(job_pb2.ListJobsRequest(chain_id=root.id))
        [child] = [job for job in chain.jobs if job.parent_id == root.id]
        child = await finished(client, child.id)
        assert shout.decode_result(child).value == "HELLO ADA"
        assert child.chain_id == root.id


async def test_failed_attempts_are_retried_or_dead_lettered(client: Client, queue: str) -> None:
    attempts: dict[str, int] = {}

    async def handle(task: Task) -> bytes:
        attempts[task.job.id] = attempts.get(task.job.id, 0) + 1
        if task.job.payload == b"flaky" and attempts[task.job.id] == 1:
            raise RetryAfter("first try fails", timedelta(milliseconds=10))
        if task.job.payload == b"hopeless":
            raise DeadLetter("hopeless")
        if task.job.payload == b"raises":
            raise KeyError("boom")
        return b"ok"

    async with running(Worker(client, [queue], handle)):
        flaky, hopeless, raises = await client.enqueue_many(
            [JobSpec(queue=queue, payload=p, max_attempts=m) for p, m in ((b"flaky", 3), (b"hopeless", 3), (b"raises", 1))]
        )
        job = await finished(client, flaky.job.id)
        assert (job.state, job.attempt) == (JobState.JOB_STATE_SUCCEEDED, 2)
        job = await finished(client, hopeless.job.id)
        assert (job.state, job.attempt, job.last_error) == (JobState.JOB_STATE_DEAD, 1, "hopeless")
        job = await finished(client, raises.job.id)
        assert (job.state, job.last_error) == (JobState.JOB_STATE_DEAD, "'boom'")


async def test_progress_is_stored(client: Client, queue: str) -> None:
    release = asyncio.Event()

    async def handle(task: Task) -> None:
        task.progress(40, "halfway there")
        await release.wait()

    async with running(Worker(client, [queue], handle)):
        enqueued = await client.enqueue(JobSpec(queue=queue))

        async def reported() -> bool:
            job = await client.get(enqueued.job.id)
            return (job.progress_percent, job.progress_message) == (40, "halfway there")

        await eventually(reported)
        release.set()
        await finished(client, enqueued.job.id)


async def test_cancel_job_cancels_the_handler(client: Client, queue: str) -> None:
    started = asyncio.Event()
    reasons: list[Any] = []

    async def handle(task: Task) -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            reasons.append(task.cancel_reason)
            raise

    async with running(Worker(client, [queue], handle)):
        enqueued = await client.enqueue(JobSpec(queue=queue))
        await started.wait()
        await client.jobs.CancelJob(job_pb2.CancelJobRequest(id=enqueued.job.id))
        job = await finished(client, enqueued.job.id)
        assert job.state == JobState.JOB_STATE_CANCELLED
        assert [type(reason) for reason in reasons] == [JobCancelled]


async def test_graceful_stop_finishes_running_jobs(client: Client, queue: str) -> None:
    started = asyncio.Event()

    async def handle(task: Task) -> bytes:
        started.set()
        await asyncio.sleep(0.3)
        return b"finished"

    worker = Worker(client, [queue], handle)
    run = asyncio.create_task(worker.run())
    enqueued = await client.enqueue(JobSpec(queue=queue))
    await started.wait()
    worker.stop()
    async with asyncio.timeout(30):
        await run
    # run() returned only after the ack was committed.
    job = await client.get(enqueued.job.id)
    assert (job.state, job.result) == (JobState.JOB_STATE_SUCCEEDED, b"finished")


async def test_graceful_stop_drains_the_stream(client: Client, queue: str) -> None:
    # Settling the running jobs returns their credit; the stopping worker's drain keeps the
    # broker from handing out more, so no job loses an attempt to the stop.
    enqueued = await client.enqueue_many([JobSpec(queue=queue) for _ in range(10)])
    started = 0
    both_running, release = asyncio.Event(), asyncio.Event()

    async def handle(task: Task) -> None:
        nonlocal started
        started += 1
        if started == 2:
            both_running.set()
        await release.wait()

    worker = Worker(client, [queue], handle, concurrency=2)
    run = asyncio.create_task(worker.run())
    await both_running.wait()
    worker.stop()
    release.set()
    async with asyncio.timeout(30):
        await run
    assert started == 2
    jobs = [await client.get(e.job.id) for e in enqueued]
    assert sorted((job.state, job.attempt) for job in jobs) == sorted(
        [(JobState.JOB_STATE_SUCCEEDED, 1)] * 2 + [(JobState.JOB_STATE_AVAILABLE, 0)] * 8
    )


async def test_burst_mode_returns_when_the_queue_is_drained(client: Client, queue: str) -> None:
    await client.enqueue_many([JobSpec(queue=queue) for _ in range(25)])
    processed: list[str] = []

    async def handle(task: Task) -> None:
        processed.append(task.job.id)

    async with asyncio.timeout(30):
        await Worker(client, [queue], handle, concurrency=4, burst=True, burst_idle=0.3).run()
    assert len(set(processed)) == 25
