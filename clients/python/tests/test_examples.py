"""The README's Python walkthrough: these programs must keep working."""

import signal
from typing import Any

from baton_client import Client, JobSpec


async def test_example_producer_and_worker(spawn: Any) -> None:
    worker = await spawn("examples/worker.py")
    producer = await spawn("examples/producer.py")
    enqueued = await producer.wait_for("enqueued")
    await worker.wait_for("sent", id=enqueued["id"], to="alan@example.com")
    await producer.wait_for("finished", id=enqueued["id"], state="JOB_STATE_SUCCEEDED", delivered=True)
    assert await producer.exited() == 0
    worker.process.send_signal(signal.SIGTERM)
    await worker.wait_for("stopped")
    assert await worker.exited() == 0


async def test_example_worker_in_burst_mode_exits_when_drained(client: Client, spawn: Any) -> None:
    await client.enqueue_many([JobSpec(queue="emails", payload=b'{"to": "burst@example.com"}') for _ in range(3)])
    worker = await spawn("examples/worker.py", "--burst")
    await worker.wait_for("stopped")
    assert await worker.exited() == 0
