"""Job specs: what a producer asks for, mapped onto the wire message."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from baton.v1 import job_pb2

Job = job_pb2.Job
#: What a blocker returned, as its dependant's Task.depends_on_results carries it.
JobResult = job_pb2.JobResult
JobState = job_pb2.JobState
DedupPolicy = job_pb2.DedupPolicy

#: States a job never leaves by itself.
FINISHED_STATES = frozenset({JobState.JOB_STATE_SUCCEEDED, JobState.JOB_STATE_DEAD, JobState.JOB_STATE_CANCELLED})


def is_finished(job: Job) -> bool:
    """True when the job is SUCCEEDED, DEAD or CANCELLED."""
    return job.state in FINISHED_STATES


@dataclass(frozen=True)
class JobSpec:
    """A job to enqueue. Unset fields take the broker's or the queue's defaults."""

    queue: str
    payload: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    #: Lower runs first.
    priority: int = 0
    #: Run no earlier than this time (give at most one of run_at and delay).
    run_at: datetime | None = None
    #: Run no earlier than this long from now, by the database's clock.
    delay: timedelta | None = None
    #: Attempts before the job is DEAD; 0 takes the queue's default.
    max_attempts: int = 0
    #: While an unfinished job has this key on the queue, enqueueing returns it instead.
    dedup_key: str = ""
    #: With dedup_key, what this enqueue does to the job that holds the key while it waits:
    #: DedupPolicy.DEDUP_POLICY_KEEP (the default) leaves it, _REPLACE gives it this payload
    #: and run time, _DEBOUNCE only this run time. A running or finished job is never changed.
    dedup_policy: DedupPolicy = DedupPolicy.DEDUP_POLICY_UNSPECIFIED
    #: Ids of jobs that must succeed before this one runs.
    depends_on: Sequence[str] = ()
    #: enqueue_many only: positions, in the same call, of earlier jobs that must succeed before
    #: this one runs; its handler gets their results (Task.depends_on_results). A whole DAG goes
    #: in one call, atomically; without chain_id a job joins the chain of its first position's job.
    depends_on_index: Sequence[int] = ()
    #: Chain to join; empty starts a new chain rooted at this job.
    chain_id: str = ""
    #: Longest time one attempt may run before the broker revokes its lease.
    timeout: timedelta | None = None
    #: Groups jobs (e.g. per tenant) for the queue's per-key concurrency limit.
    fairness_key: str = ""

    def to_request(self) -> job_pb2.EnqueueJobRequest:
        request = job_pb2.EnqueueJobRequest(
            queue=self.queue,
            payload=self.payload,
            headers=dict(self.headers),
            priority=self.priority,
            max_attempts=self.max_attempts,
            dedup_key=self.dedup_key,
            dedup_policy=self.dedup_policy,
            depends_on=list(self.depends_on),
            depends_on_index=list(self.depends_on_index),
            chain_id=self.chain_id,
            fairness_key=self.fairness_key,
        )
        if self.run_at is not None:
            request.run_time.FromDatetime(self.run_at)
        elif self.delay is not None:
            request.delay.FromTimedelta(self.delay)
        if self.timeout is not None:
            request.timeout.FromTimedelta(self.timeout)
        return request
