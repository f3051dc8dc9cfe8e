import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
from google.protobuf.wrappers_pb2 import StringValue

from baton.v1 import job_pb2
from baton_client import (
    Batch, BatchWorker, Client, DeadLetter, Job, JobCancelled, JobSpec, JobState, JobType, RetryAfter, Router, Task, Worker,
)
from waiting import eventually


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


async def test_worker_labels_route_jobs(client: Client, queue: str) -> None:
    ran_on_plain: list[str] = []

    async def plain(task: Task) -> str:
        ran_on_plain.append(task.job.id)
        return "plain"

    async def gpu(task: Task) -> str:
        return "gpu"

    async with running(Worker(client, [queue], plain)):
        labelled = await client.enqueue(JobSpec(queue=queue, worker_labels={"gpu": "a100"}))
        assert dict(labelled.job.worker_labels) == {"gpu": "a100"}
        # An unlabelled job enqueued after it runs on the plain worker, which never takes it.
        unlabelled = await client.enqueue(JobSpec(queue=queue))
        assert (await finished(client, unlabelled.job.id)).result == b"plain"
        async with running(Worker(client, [queue], gpu, labels={"gpu": "a100", "region": "eu"})):
            assert (await finished(client, labelled.job.id)).result == b"gpu"
    assert ran_on_plain == [unlabelled.job.id]


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


# Batch handlers: several jobs of one queue per call, each settled on its own.


async def enqueue_all(client: Client, queue: str, payloads: list[bytes]) -> list[str]:
    enqueued = await client.enqueue_many_ids([JobSpec(queue=queue, payload=payload, max_attempts=1) for payload in payloads])
    return [job.id for job in enqueued]


async def test_a_batch_handler_settles_each_job_on_its_own(client: Client, queue: str) -> None:
    payloads = [b"bad", b"silent", *(f"ok-{i}".encode() for i in range(10))]
    # Enqueued before the worker starts, so they are delivered together.
    ids = await enqueue_all(client, queue, payloads)
    sizes: list[int] = []
    double_settle: list[str] = []

    async def handle(batch: Batch) -> None:
        sizes.append(len(batch.tasks))
        for task in batch.tasks:
            if task.job.payload == b"bad":
                batch.fail(task, DeadLetter("cannot handle bad"))
            elif task.job.payload != b"silent":  # left unsettled: acked with no result on return
                batch.ack(task, b"done " + task.job.payload)
        with pytest.raises(RuntimeError, match=r"^job \d+ is settled already$") as refused:
            batch.ack(batch.tasks[0], b"again")
        double_settle.append(str(refused.value))

    async with running(BatchWorker(client, [queue], handle, concurrency=20, max_jobs=12, max_wait=10)):
        jobs = [await finished(client, job_id) for job_id in ids]
    assert max(sizes) > 1 and sum(sizes) == len(ids)
    assert len(double_settle) == len(sizes)
    bad, silent, *rest = jobs
    assert (bad.state, bad.last_error) == (JobState.JOB_STATE_DEAD, "cannot handle bad")
    assert (silent.state, silent.result) == (JobState.JOB_STATE_SUCCEEDED, b"")
    assert [(job.state, job.result) for job in rest] == [(JobState.JOB_STATE_SUCCEEDED, b"done " + p) for p in payloads[2:]]


async def test_a_raising_batch_handler_fails_the_jobs_it_did_not_settle(client: Client, queue: str) -> None:
    ids = await enqueue_all(client, queue, [b"first", b"second", b"third"])

    async def handle(batch: Batch) -> None:
        for task in batch.tasks:
            if task.job.payload == b"first":
                batch.ack(task, b"kept")
        raise RuntimeError("the batch broke")

    async with running(BatchWorker(client, [queue], handle, max_jobs=3, max_wait=10)):
        first, *others = [await finished(client, job_id) for job_id in ids]
    assert (first.state, first.result) == (JobState.JOB_STATE_SUCCEEDED, b"kept")
    assert [(job.state, job.last_error) for job in others] == [(JobState.JOB_STATE_DEAD, "the batch broke")] * 2


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_jobs": 0}, r"^max_jobs must be an integer from 1 to the worker's concurrency \(10\), got 0$"),
        ({"max_jobs": 11}, r"^max_jobs must be an integer from 1 to the worker's concurrency \(10\), got 11$"),
        ({"max_jobs": 2.5}, r"^max_jobs must be an integer .* got 2\.5$"),
        ({"max_jobs": 2, "max_wait": -1}, r"^max_wait must be a finite number of seconds, at least 0, got -1$"),
        ({"max_jobs": 2, "max_wait": float("inf")}, r"^max_wait must be a finite number of seconds, at least 0, got inf$"),
    ],
)
async def test_batch_options_a_worker_cannot_honour_are_refused(
    client: Client, queue: str, options: dict[str, float], message: str
) -> None:
    async def handle(batch: Batch) -> None:
        pass

    with pytest.raises(ValueError, match=message):
        BatchWorker(client, [queue], handle, **options)  # type: ignore[arg-type]


async def test_batches_hold_one_slot_per_job_and_a_full_worker_runs_a_short_batch_at_once(
    client: Client, queue: str
) -> None:
    ids = await enqueue_all(client, queue, [str(i).encode() for i in range(10)])
    sizes: list[int] = []
    in_handler = most_in_handler = 0
    gate = asyncio.Event()

    async def handle(batch: Batch) -> None:
        nonlocal in_handler, most_in_handler
        sizes.append(len(batch.tasks))
        in_handler += len(batch.tasks)
        most_in_handler = max(most_in_handler, in_handler)
        if in_handler == 6:
            gate.set()
        await gate.wait()
        in_handler -= len(batch.tasks)

    # max_wait is longer than the test may take: the batch of 2 can only start because all 6
    # slots are taken.
    async with running(BatchWorker(client, [queue], handle, concurrency=6, max_jobs=4, max_wait=600)):
        for job_id in ids:
            await finished(client, job_id)
    assert most_in_handler == 6
    assert sizes[:2] == [4, 2] and sum(sizes) == 10


async def test_a_job_whose_lease_is_lost_while_it_waits_for_its_batch_leaves_the_batch(client: Client, queue: str) -> None:
    [lost] = await client.enqueue_many_ids(
        [JobSpec(queue=queue, payload=b"lost", max_attempts=1, timeout=timedelta(milliseconds=300))]
    )
    seen: list[list[bytes]] = []

    async def handle(batch: Batch) -> None:
        seen.append([task.job.payload for task in batch.tasks])

    # max_wait is longer than the test may take: only two live jobs can fill the batch.
    async with running(BatchWorker(client, [queue], handle, concurrency=2, max_jobs=2, max_wait=600)):
        # The attempt times out while the job waits for a second one; the broker takes its lease.
        dead = await finished(client, lost.id)
        assert (dead.state, dead.last_error) == (JobState.JOB_STATE_DEAD, "attempt timed out")
        # Delivered on the same stream after the lease loss: they find the batch without it.
        for job_id in await enqueue_all(client, queue, [b"first", b"second"]):
            await finished(client, job_id)
    assert seen == [[b"first", b"second"]]


async def test_a_stopping_batch_worker_runs_its_waiting_batch_at_once(client: Client, queue: str) -> None:
    [job_id] = await enqueue_all(client, queue, [b"alone"])

    async def handle(batch: Batch) -> None:
        pass

    # max_wait is longer than the test may take: the batch of one can only run because the
    # worker stops.
    async with running(BatchWorker(client, [queue], handle, max_jobs=5, max_wait=600)):
        await eventually(lambda: _is_leased(client, job_id))
    assert (await client.get(job_id)).state == JobState.JOB_STATE_SUCCEEDED


async def _is_leased(client: Client, job_id: str) -> bool:
    return (await client.get(job_id)).state == JobState.JOB_STATE_LEASED
