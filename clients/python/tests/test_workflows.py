"""Workflows that pass results: a DAG in one enqueue_many, each delivery carrying its blockers' results."""

import asyncio
import dataclasses

import pytest

from baton_client import Client, JobResult, JobSpec, JobState, JobType, Task, Worker


async def test_dag_fan_in_sees_every_result(client: Client, queue: str) -> None:
    enqueued = await client.enqueue_many(
        [
            JobSpec(queue, payload=b"root"),
            JobSpec(queue, payload=b"a", depends_on_index=[0]),
            JobSpec(queue, payload=b"b", depends_on_index=[0]),
            JobSpec(queue, payload=b"c", depends_on_index=[0]),
            JobSpec(queue, payload=b"fan-in", depends_on_index=[1, 2, 3]),
        ]
    )
    root = enqueued[0].job
    seen: list[JobResult] = []

    async def handle(task: Task) -> bytes:
        if task.job.payload == b"root":
            return b"r"
        if task.job.payload == b"fan-in":
            seen.extend(task.depends_on_results)
            return b",".join(result.result for result in task.depends_on_results)
        return task.job.payload + b"<" + task.depends_on_results[0].result

    worker = Worker(client, [queue], handle)
    run = asyncio.create_task(worker.run())
    try:
        async with asyncio.timeout(30):
            chain = await client.wait_chain(root.id)
    finally:
        worker.stop()
        async with asyncio.timeout(40):
            await run
    assert len(chain) == 5
    assert all(job.state == JobState.JOB_STATE_SUCCEEDED and job.chain_id == root.id for job in chain)
    assert [(result.job_id, result.omitted) for result in seen] == [(e.job.id, False) for e in enqueued[1:4]]
    assert chain[0].result == b"a<r,b<r,c<r"


@dataclasses.dataclass
class Total:
    total: int


def test_decode_depends_on_result() -> None:
    sums = JobType.json("sums", Total, Total)
    assert sums.decode_depends_on_result(JobResult(job_id="1", result=b'{"total": 3}')) == Total(3)
    with pytest.raises(ValueError, match="omitted"):
        sums.decode_depends_on_result(JobResult(job_id="2", omitted=True))
