-- Queries of baton.queue_history (migration 0017): counts per queue and minute that every
-- replica adds to, read back as a series of fixed steps.

-- name: QueueHistoryAdd
-- Adds one replica's counts since its last flush to the minute of @now, one row per queue.
-- Replicas flush the same rows at once: in queue order, so two of them never wait on each
-- other's rows crosswise (no deadlock).
insert into baton.queue_history as h (queue, bucket, enqueued, succeeded, retried, dead, cancelled)
select c.queue, date_trunc('minute', coalesce(@now::timestamptz, now())), c.enqueued, c.succeeded, c.retried, c.dead, c.cancelled
from unnest(@queues::text[], @enqueued::bigint[], @succeeded::bigint[], @retried::bigint[], @dead::bigint[], @cancelled::bigint[])
  as c(queue, enqueued, succeeded, retried, dead, cancelled)
order by c.queue
on conflict (queue, bucket) do update set
  enqueued = h.enqueued + excluded.enqueued,
  succeeded = h.succeeded + excluded.succeeded,
  retried = h.retried + excluded.retried,
  dead = h.dead + excluded.dead,
  cancelled = h.cancelled + excluded.cancelled;

-- name: QueueHistorySeries
-- @points steps of @stepSeconds each, oldest first, the last one the step @now falls in; steps
-- start at whole multiples of the step since the epoch, so a series read twice lines up. Every
-- step is there, zeros included. @queue null sums every queue; run unplanned (see
-- queueHistorySeries), so that either form reads an index.
with bounds as (
  select date_bin(make_interval(secs => @stepSeconds::float8), coalesce(@now::timestamptz, now()), timestamptz '1970-01-01 00:00:00+00') as last_start,
         make_interval(secs => @stepSeconds::float8) as step
),
steps as (
  select generate_series(last_start - step * (@points::int - 1), last_start, step) as start from bounds
),
totals as (
  select date_bin(bounds.step, h.bucket, timestamptz '1970-01-01 00:00:00+00') as start,
         sum(h.enqueued) as enqueued, sum(h.succeeded) as succeeded, sum(h.retried) as retried,
         sum(h.dead) as dead, sum(h.cancelled) as cancelled
  from baton.queue_history h, bounds
  where h.bucket >= bounds.last_start - bounds.step * (@points::int - 1)
    and (@queue::text is null or h.queue = @queue::text)
  group by 1
)
select steps.start as start_time,
       coalesce(totals.enqueued, 0) as enqueued, coalesce(totals.succeeded, 0) as succeeded,
       coalesce(totals.retried, 0) as retried, coalesce(totals.dead, 0) as dead,
       coalesce(totals.cancelled, 0) as cancelled
from steps left join totals using (start)
order by steps.start;

-- name: QueueHistoryDeleteExpired
-- Deletes up to @limit minutes of history older than @retentionSeconds, oldest first (through
-- the bucket index, wherever the old rows lie in the table).
delete from baton.queue_history
where ctid = any(array(
  select ctid from baton.queue_history
  where bucket < coalesce(@now::timestamptz, now()) - make_interval(secs => @retentionSeconds::float8)
  order by bucket
  limit @limit
));
