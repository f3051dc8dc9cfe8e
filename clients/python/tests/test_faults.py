import asyncio
from typing import Any

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


async def test_worker_reconnects_after_the_connection_drops(client: Client, broker_url: str, queue: str) -> None:
    """A TCP proxy between worker and broker is cut while a job runs. The worker reconnects and
    asks to resume the lease; the broker either keeps it (the handler goes on) or has released
    it (the handler is cancelled with LeaseLost and the job runs again). Either way the job ends
    SUCCEEDED and later jobs are still taken."""
    host, port = broker_url.removeprefix("http://").split(":")
    connections: list[asyncio.StreamWriter] = []

    async def forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(host, int(port))
        connections.extend([writer, upstream_writer])
        await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))

    proxy = await asyncio.start_server(forward, "127.0.0.1", 0)
    proxy_port = proxy.sockets[0].getsockname()[1]
    started = asyncio.Event()
    reasons: list[Exception | None] = []

    async def handle(task: Task) -> bytes:
        if task.job.payload == b"held" and task.job.attempt == 1:
            started.set()
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                reasons.append(task.cancel_reason)
                raise
        return b"ok"

    async with Client(f"http://127.0.0.1:{proxy_port}") as proxied:
        worker = Worker(proxied, [queue], handle, min_backoff=0.01)
        run = asyncio.create_task(worker.run())
        held = await client.enqueue(JobSpec(queue=queue, payload=b"held"))
        await started.wait()
        for connection in connections:
            connection.transport.abort()
        later = await client.enqueue(JobSpec(queue=queue, payload=b"later"))
        async with asyncio.timeout(30):
            assert (await client.wait(later.job.id)).state == JobState.JOB_STATE_SUCCEEDED
            job = await client.wait(held.job.id)
        assert (job.state, job.attempt) == (JobState.JOB_STATE_SUCCEEDED, 2)
        assert [type(reason) for reason in reasons] == [LeaseLost]
        worker.stop()
        async with asyncio.timeout(30):
            await run
    proxy.close()
