import asyncio
from datetime import datetime, timedelta, timezone

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.field_mask_pb2 import FieldMask

from baton.v1 import job_pb2
from baton.v1 import queue_service_pb2 as q
from baton.v1 import schedule_service_pb2 as s
from baton_client import Client, DedupPolicy, JobSpec, JobState, JobType
from waiting import eventually


async def test_enqueue_get_and_dedup(client: Client, queue: str) -> None:
    enqueued = await client.enqueue(
        JobSpec(queue=queue, payload=b"hello", priority=-3, max_attempts=4, headers={"tenant": "acme"},
                dedup_key="once", delay=timedelta(hours=1))
    )
    job = await client.get(enqueued.job.id)
    assert (job.payload, job.priority, job.max_attempts, dict(job.headers)) == (b"hello", -3, 4, {"tenant": "acme"})
    assert job.state == JobState.JOB_STATE_SCHEDULED

    again = await client.enqueue(JobSpec(queue=queue, dedup_key="once"))
    assert again.deduplicated and again.job.id == job.id


async def test_dedup_policies(client: Client, queue: str) -> None:
    waiting = await client.enqueue(JobSpec(queue=queue, payload=b"v1", dedup_key="k", delay=timedelta(hours=1)))
    replaced = await client.enqueue(
        JobSpec(queue=queue, payload=b"v2", dedup_key="k", dedup_policy=DedupPolicy.DEDUP_POLICY_REPLACE, delay=timedelta(hours=2))
    )
    assert replaced.deduplicated and replaced.job.id == waiting.job.id and replaced.job.payload == b"v2"
    run_at = datetime(2099, 1, 1, tzinfo=timezone.utc)
    debounced = await client.enqueue(
        JobSpec(queue=queue, payload=b"v3", dedup_key="k", dedup_policy=DedupPolicy.DEDUP_POLICY_DEBOUNCE, run_at=run_at)
    )
    assert debounced.job.payload == b"v2"
    assert debounced.job.run_time.ToDatetime(tzinfo=timezone.utc) == run_at


async def test_enqueue_many_is_all_or_nothing(client: Client, queue: str) -> None:
    results = await client.enqueue_many([JobSpec(queue=queue, payload=b"a"), JobSpec(queue=queue, payload=b"b")])
    assert [r.job.payload for r in results] == [b"a", b"b"]

    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await client.enqueue_many([JobSpec(queue=queue), JobSpec(queue="not a queue name!")])
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    listed = await client.jobs.ListJobs(job_pb2.ListJobsRequest(queue=queue))
    assert len(listed.jobs) == 2


async def test_enqueue_many_ids_answers_ids_in_request_order(client: Client, queue: str) -> None:
    first = await client.enqueue(JobSpec(queue=queue, payload=b"first", dedup_key="once"))
    ids = await client.enqueue_many_ids([JobSpec(queue=queue, payload=b"a"), JobSpec(queue=queue, dedup_key="once")])
    assert [i.deduplicated for i in ids] == [False, True]
    assert ids[1].id == first.job.id
    assert (await client.get(ids[0].id)).payload == b"a"


async def test_cancel_and_delete_jobs_by_header(client: Client, queue: str) -> None:
    batch = {"batch": "py-bulk"}
    await client.enqueue_many([JobSpec(queue=queue, headers=batch), JobSpec(queue=queue, headers=batch), JobSpec(queue=queue)])
    job_filter = job_pb2.JobFilter(queue=queue, headers=batch)
    listed = await client.jobs.ListJobs(job_pb2.ListJobsRequest(filter=job_filter))
    assert len(listed.jobs) == 2
    cancelled = await client.jobs.CancelJobs(job_pb2.CancelJobsRequest(filter=job_filter))
    assert (cancelled.cancelled, cancelled.cancel_requested) == (2, 0)
    again = await client.jobs.CancelJobs(job_pb2.CancelJobsRequest(filter=job_filter))
    assert (again.cancelled, again.cancel_requested) == (0, 0)
    deleted = await client.jobs.DeleteJobs(job_pb2.DeleteJobsRequest(filter=job_filter))
    assert deleted.count == 2
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await client.jobs.DeleteJobs(job_pb2.DeleteJobsRequest(filter=job_pb2.JobFilter()))
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_get_unknown_job_is_not_found(client: Client) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await client.get("987654321")
    assert failure.value.code() == grpc.StatusCode.NOT_FOUND


async def test_typed_job_rejects_a_bad_payload_before_enqueue(client: Client, queue: str) -> None:
    def positive(n: int) -> None:
        if n < 0:
            raise ValueError("negative")

    numbers = JobType.json(queue, int, int, validate=positive)
    with pytest.raises(ValueError, match="negative"):
        await numbers.enqueue(client, -1)
    listed = await client.jobs.ListJobs(job_pb2.ListJobsRequest(queue=queue))
    assert list(listed.jobs) == []


async def test_schedule_control(client: Client, queue: str) -> None:
    created = await client.schedules.CreateSchedule(s.CreateScheduleRequest(schedule=s.Schedule(
        name=queue, queue=queue, cron="0 0 1 1 *", catchup_window=Duration(seconds=3600),
        overlap_policy=s.OVERLAP_POLICY_SKIP,
    )))
    assert created.schedule.catchup_window.seconds == 3600
    try:
        assert (await client.schedules.PauseSchedule(s.PauseScheduleRequest(name=queue))).schedule.paused
        triggered = await client.schedules.TriggerSchedule(s.TriggerScheduleRequest(name=queue))
        assert triggered.job.queue == queue and triggered.job.dedup_key.startswith(f"schedule:{queue}:trigger:")
        # SKIP: the triggered job is unfinished, so a second trigger is refused.
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await client.schedules.TriggerSchedule(s.TriggerScheduleRequest(name=queue))
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert not (await client.schedules.ResumeSchedule(s.ResumeScheduleRequest(name=queue))).schedule.paused
        updated = await client.schedules.UpdateSchedule(s.UpdateScheduleRequest(
            schedule=s.Schedule(name=queue, priority=5), update_mask=FieldMask(paths=["priority"]),
        ))
        assert (updated.schedule.priority, updated.schedule.cron) == (5, "0 0 1 1 *")
        with pytest.raises(grpc.aio.AioRpcError) as invalid:
            await client.schedules.UpdateSchedule(s.UpdateScheduleRequest(
                schedule=s.Schedule(name=queue, catchup_window=Duration(seconds=1)),
                update_mask=FieldMask(paths=["catchup_window"]),
            ))
        assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "schedule.catchup_window is 1s" in (invalid.value.details() or "")
    finally:
        await client.schedules.DeleteSchedule(s.DeleteScheduleRequest(name=queue))


async def test_queue_history(client: Client, queue: str) -> None:
    """The broker adds its counts every BATON_HISTORY_FLUSH_SECONDS (1 s for the test broker):
    read until they are there."""
    for _ in range(2):
        await client.enqueue(JobSpec(queue=queue))

    async def counted() -> bool:
        history: q.GetQueueHistoryResponse = await client.queues.GetQueueHistory(q.GetQueueHistoryRequest(queue=queue))
        assert len(history.points) == 60 and history.step.seconds == 60
        return sum(point.enqueued for point in history.points) == 2

    await eventually(counted, "the history to count the two jobs")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await client.queues.GetQueueHistory(q.GetQueueHistoryRequest(queue=queue, step=Duration(seconds=90)))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
