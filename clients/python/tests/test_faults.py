import asyncio
from typing import Any

import pytest

from baton_client import Client, JobSpec, JobState, LeaseLost, Task, Worker


async def test_worker_killed_mid_job_loses_nothing(client: Client, queue: str, spawn: Any) -> None:
    enqueued = await client.enqueue_many([JobSpec(queue=queue, payload=b"step") for _ in range(5)])
    victim = await spawn("tests/fixture_worker.py", env={"QUEUE": queue, "HOLD_MS": "600000"})
    for e in enqueued:
        await victim.wait_for("started", id=e.job.id)
    victim.process.kill()

    rescuer = await spawn("tests/fixture_worker.py", env={"QUEUE": queue})
    for e in enqueued:
        async with asyncio.timeout(30):
            job = await client.wait(e.job.id)
        assert (job.state, job.attempt, job.result) == (JobState.JOB_STATE_SUCCEEDED, 2, b"step|py")
        await rescuer.wait_for("done", id=e.job.id)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


@pytest.mark.parametrize(
    ("resume_grace", "min_backoff", "attempt", "reasons"),
    [
        # Within the broker's grace the job goes on without running twice.
        pytest.param(10.0, 0.01, 1, [], id="resumed"),
        # Without grace the broker releases the job as soon as it sees the break (reconnecting
        # later makes sure of that): the handler is cancelled with LeaseLost, the job runs again.
        pytest.param(0.0, 1.0, 2, [LeaseLost], id="released"),
    ],
)
async def test_worker_reconnects_after_the_connection_drops(
    client: Client, broker_url: str, queue: str, resume_grace: float, min_backoff: float, attempt: int, reasons: list[type]
) -> None:
    """A TCP proxy between worker and broker is cut while a job runs; the worker reconnects and
    asks to resume the lease."""
    host, port = broker_url.removeprefix("http://").split(":")
    connections: list[asyncio.StreamWriter] = []

    async def forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(host, int(port))
        connections.extend([writer, upstream_writer])
        await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))

    proxy = await asyncio.start_server(forward, "127.0.0.1", 0)
    proxy_port = proxy.sockets[0].getsockname()[1]
    started, release = asyncio.Event(), asyncio.Event()
    cancel_reasons: list[type] = []

    async def handle(task: Task) -> bytes:
        if task.job.payload == b"held" and task.job.attempt == 1:
            started.set()
            try:
                await release.wait()
            except asyncio.CancelledError:
                cancel_reasons.append(type(task.cancel_reason))
                raise
        return b"ok"

    async with Client(f"http://127.0.0.1:{proxy_port}") as proxied:
        worker = Worker(proxied, [queue], handle, min_backoff=min_backoff, resume_grace=resume_grace)
        run = asyncio.create_task(worker.run())
        held = await client.enqueue(JobSpec(queue=queue, payload=b"held"))
        await started.wait()
        for connection in connections:
            connection.transport.abort()
        # A job enqueued after the cut is taken: the worker is back on a new stream.
        later = await client.enqueue(JobSpec(queue=queue, payload=b"later"))
        async with asyncio.timeout(30):
            assert (await client.wait(later.job.id)).state == JobState.JOB_STATE_SUCCEEDED
            release.set()
            job = await client.wait(held.job.id)
        assert (job.state, job.attempt) == (JobState.JOB_STATE_SUCCEEDED, attempt)
        assert cancel_reasons == reasons
        worker.stop()
        async with asyncio.timeout(30):
            await run
    proxy.close()
