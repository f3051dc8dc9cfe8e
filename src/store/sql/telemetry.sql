-- Queries of the telemetry tables (migration 0005): the span outbox, the replicas that export
-- it, and the gauges behind /metrics.

-- name: SpanOutboxClaim
-- The oldest @limit committed spans that no other replica is exporting; they stay locked until
-- this transaction deletes them (exported) or rolls back (the export failed). Times in
-- microseconds since the epoch, exactly.
select id, replace(trace_id::text, '-', '') as trace_id, parent_span_id, operation,
       (extract(epoch from start_time) * 1000000)::bigint as start_us,
       (extract(epoch from end_time) * 1000000)::bigint as end_us,
       job_id, queue, chain_id, parent_job_id, attempt, run, outcome, error, replica, worker_id,
       (extract(epoch from ready_time) * 1000000)::bigint as ready_us, links
from baton.span_outbox
order by id
limit @limit
for update skip locked;

-- name: SpanOutboxDelete
delete from baton.span_outbox where id = any(@ids::bigint[]);

-- name: SpanOutboxTrim
-- Keeps the outbox to @maxRows rows by dropping the oldest (unlocked) ones, and counts them. Cheap
-- while under the bound: min and max of the primary key say so without counting.
with bounds as (
  select min(id) as lo, max(id) as hi from baton.span_outbox
),
excess as (
  select greatest(0, (select count(*) from baton.span_outbox) - @maxRows::bigint) as n
  from bounds where hi - lo + 1 > @maxRows::bigint
),
dropped as (
  delete from baton.span_outbox o
  where o.id in (
    select id from baton.span_outbox order by id
    limit coalesce((select n from excess), 0)
    for update skip locked)
  returning 1
)
select count(*)::int as dropped from dropped;

-- name: SpanExporterSeen
-- This replica exports spans: the triggers keep writing them for a minute after this.
insert into baton.span_exporters (replica, seen_time) values (@replica, now())
on conflict (replica) do update set seen_time = now();

-- name: SpanExporterForget
delete from baton.span_exporters where replica = @replica;

-- name: TelemetryGauges
-- Every gauge of /metrics in one statement, each part read through a partial index of live
-- jobs (finished ones are never counted: there may be millions): jobs per queue and live
-- state, SCHEDULED told apart from AVAILABLE by database time, and the age of each queue's
-- oldest due AVAILABLE job, both from one pass over jobs_claim_idx (the CTE is read twice, so it
-- is materialized once); the queues with settings (their gauges read zero when empty); open
-- worker streams per queue, of every replica heard from within @staleSeconds seconds; the span
-- outbox backlog.
with available as (
  select queue, run_time > now() as scheduled, count(*) as jobs, min(run_time) as oldest_run_time
  from baton.jobs where state = 'available' group by 1, 2
)
select 'jobs' as kind, queue, case when scheduled then 'scheduled' else 'available' end as state, jobs::float8 as value
from available
union all
select 'oldest_available', queue, '', extract(epoch from now() - oldest_run_time)::float8 from available where not scheduled
union all
select 'jobs', queue, 'leased', count(*)::float8 from baton.jobs where state = 'leased' group by queue
union all
select 'jobs', queue, 'blocked', count(*)::float8 from baton.jobs where state = 'blocked' group by queue
union all
select 'queue', name, '', 0 from baton.queues
union all
select 'worker_streams', queue, '', count(*)::float8
from baton.workers, unnest(queues) as queue
where last_seen_time > now() - make_interval(secs => @staleSeconds::float8)
group by queue
union all
select 'span_outbox_rows', '', '', count(*)::float8 from baton.span_outbox;
