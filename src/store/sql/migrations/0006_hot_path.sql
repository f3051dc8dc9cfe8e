-- The hot path. Fewer index entries per job. A claim or a settlement changes `state`, which the partial
-- indexes' predicates name, so PostgreSQL cannot update the row in place (HOT): every claim,
-- ack and nack writes a new row version plus one entry in each index whose predicate the new
-- version matches. Measured for batches of 1,000 (bench/statements.ts), each index below cost
-- 1-4 ms per statement.

-- The reaper reads expired leases and overdue attempts from the leased rows, which
-- jobs_leased_queue_idx already lists (a replica holds thousands, not millions), instead of
-- every claim writing two more index entries.
drop index baton.jobs_lease_expire_idx;
drop index baton.jobs_attempt_deadline_idx;

-- A chain is its root (id = chain_id, reached by primary key) plus the jobs that joined it.
-- Most jobs are roots of their own one-job chain; indexing only the others keeps the chain
-- lookups indexed without an entry for every version of every job.
drop index baton.jobs_chain_idx;
create index jobs_chain_idx on baton.jobs (chain_id, id) where chain_id <> id;

-- Serves the dedup_window check of JobInsertMany: finished jobs by (queue, dedup_key). Only
-- jobs with a dedup_key pay for it. Without it, that check scanned the whole table, and the
-- estimated cost of that scan made PostgreSQL re-plan every single-job enqueue (its generic
-- plan looked too expensive to reuse): about 0.6 ms per call.
create index jobs_dedup_finished_idx on baton.jobs (queue, dedup_key, finish_time)
  where dedup_key is not null and state in ('succeeded', 'dead', 'cancelled');

-- Jobs handed to a waiting stream at insert (JobInsertMany) start their first attempt without
-- the claim's update, so the insert trigger observes their queue wait (zero, or the little
-- between run_time and the insert) as the update trigger does for claimed jobs.
create or replace function baton.jobs_inserted_telemetry() returns trigger
language plpgsql as $$
declare
  inserted_time timestamptz := clock_timestamp();
begin
  with waits as (
    select n.queue, baton.metric_bucket_index(w.seconds) as k, w.seconds
    from new_jobs n
    cross join lateral (select greatest(date_part('epoch', n.attempt_start_time - n.run_time), 0) as seconds) w
    where n.state = 'leased'
  ),
  observations as (
    select 'jobs_enqueued_total' as name, n.queue, '' as label, count(*)::double precision as value
    from new_jobs n group by n.queue
    union all
    select 'job_queue_wait_seconds', queue, coalesce((baton.metric_bounds())[k]::text, '+Inf'), count(*)
    from waits group by queue, k
    union all
    select 'job_queue_wait_seconds', queue, 'sum', sum(seconds) from waits group by queue
  )
  insert into baton.metric_counters as m (name, queue, label, backend, value)
  select name, queue, label, pg_backend_pid(), value from observations order by name, queue, label
  on conflict (name, queue, label, backend) do update set value = m.value + excluded.value;

  if baton.span_export_active() then
    insert into baton.span_outbox (trace_id, parent_span_id, operation, start_time, end_time,
                                   job_id, queue, chain_id, parent_job_id)
    select baton.job_trace_id(n.trace_id, n.chain_id), n.send_parent_span_id, 'send',
           n.create_time, greatest(n.create_time, inserted_time), n.id, n.queue, n.chain_id, n.parent_id
    from new_jobs n;
  end if;
  return null;
end;
$$;
