-- Queries of the telemetry tables (migration 0005): the span outbox, the replicas that export
-- it, and the counters behind /metrics.

-- name: SpanOutboxClaim
-- The oldest $1 committed spans that no other replica is exporting; they stay locked until
-- this transaction deletes them (exported) or rolls back (the export failed). Times in
-- microseconds since the epoch, exactly.
select id, replace(trace_id::text, '-', '') as trace_id, parent_span_id, operation,
       (extract(epoch from start_time) * 1000000)::bigint as start_us,
       (extract(epoch from end_time) * 1000000)::bigint as end_us,
       job_id, queue, chain_id, parent_job_id, attempt, run, outcome, error, replica,
       (extract(epoch from ready_time) * 1000000)::bigint as ready_us, links
from baton.span_outbox
order by id
limit $1
for update skip locked;

-- name: SpanOutboxDelete
delete from baton.span_outbox where id = any($1::bigint[]);

-- name: SpanOutboxTrim
-- Keeps the outbox to $1 rows by dropping the oldest (unlocked) ones, and counts them. Cheap
-- while under the bound: min and max of the primary key say so without counting.
with bounds as (
  select min(id) as lo, max(id) as hi from baton.span_outbox
),
excess as (
  select greatest(0, (select count(*) from baton.span_outbox) - $1::bigint) as n
  from bounds where hi - lo + 1 > $1::bigint
),
dropped as (
  delete from baton.span_outbox o
  where o.id in (
    select id from baton.span_outbox order by id
    limit coalesce((select n from excess), 0)
    for update skip locked)
  returning 1
),
counted as (
  insert into baton.metric_counters as m (name, queue, label, backend, value)
  select 'span_outbox_dropped_total', '', '', pg_backend_pid(), count(*) from dropped having count(*) > 0
  on conflict (name, queue, label, backend) do update set value = m.value + excluded.value
  returning 1
)
select (select count(*) from dropped)::int as dropped, (select count(*) from counted) as counted;

-- name: SpanExporterSeen
-- This replica exports spans: the triggers keep writing them for a minute after this.
insert into baton.span_exporters (replica, seen_time) values ($1, now())
on conflict (replica) do update set seen_time = now();

-- name: SpanExporterForget
delete from baton.span_exporters where replica = $1;

-- name: TelemetryCounters
-- Cluster-wide totals: every backend's share added up.
select name, queue, label, sum(value)::float8 as value
from baton.metric_counters
group by name, queue, label;

-- name: TelemetryHistogramBounds
-- The le labels of the histogram buckets, as the triggers write them.
select array(select b::text from unnest(baton.metric_bounds()) b) as bounds;

-- name: TelemetryFoldCounters
-- Moves the shares of backends that ended into backend 0 (no live backend has pid 0), so the
-- table keeps one row per live backend rather than one per backend ever.
with gone as (
  delete from baton.metric_counters m
  where m.backend <> 0 and not exists (select 1 from pg_stat_activity a where a.pid = m.backend)
  returning name, queue, label, value
)
insert into baton.metric_counters as m (name, queue, label, backend, value)
select name, queue, label, 0, sum(value) from gone group by name, queue, label order by name, queue, label
on conflict (name, queue, label, backend) do update set value = m.value + excluded.value;

-- name: TelemetryJobCounts
-- Jobs per queue and state, SCHEDULED told apart from AVAILABLE by database time.
select queue, case when state = 'available' and run_time > now() then 'scheduled' else state::text end as state,
       count(*)::float8 as count
from baton.jobs
group by 1, 2;

-- name: TelemetryWorkerStreams
-- Open worker streams of every replica, heard from within $1 seconds.
select count(*)::float8 as count from baton.workers where last_seen_time > now() - make_interval(secs => $1::float8);

-- name: TelemetryOutboxRows
select count(*)::float8 as count from baton.span_outbox;
