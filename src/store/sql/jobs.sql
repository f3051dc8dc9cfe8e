-- Queries of the jobs table. Each block starts with "-- name: <name>" and becomes a named
-- prepared statement. $now, where a query takes it, is NULL in production (database time)
-- and a fixed instant in tests.

-- name: JobInsertMany
-- Inserts a batch in input order and wakes the queues in the same statement. Ids are drawn
-- in input order so that the caller can match rows to requests; a row skipped by dedup_key
-- is absent from the output. Root jobs are their own chain.
with input as (
  select nextval(pg_get_serial_sequence('baton.jobs', 'id')) as id, t.*
  from unnest(
    $1::text[], $2::bytea[], $3::jsonb[], $4::int[], $5::float8[], $6::timestamptz[],
    $7::int[], $8::text[], $9::bigint[], $10::bigint[], $11::float8[]
  ) with ordinality as t(queue, payload, headers, priority, delay_seconds, run_time,
                        max_attempts, dedup_key, chain_id, parent_id, timeout_seconds, ord)
  order by t.ord
),
inserted as (
  insert into baton.jobs (id, queue, payload, headers, priority, run_time, max_attempts,
                          dedup_key, chain_id, parent_id, timeout)
  select id, queue, payload, headers, priority,
         coalesce(run_time, coalesce($12::timestamptz, now()) + make_interval(secs => coalesce(delay_seconds, 0))),
         max_attempts, dedup_key, coalesce(chain_id, id), parent_id,
         make_interval(secs => timeout_seconds)
  from input
  order by ord
  on conflict (queue, dedup_key)
    where dedup_key is not null and state in ('available', 'blocked', 'leased')
    do nothing
  returning *
),
-- One notification per queue (Postgres also folds identical ones within a transaction).
woken as (
  select pg_notify('baton_jobs', queue) from (select distinct queue from inserted) q
)
select inserted.*, (inserted.run_time > coalesce($12::timestamptz, now())) as scheduled,
       (select count(*) from woken) as woken_queues
from inserted
order by inserted.id;

-- name: JobGetUnfinishedByDedupKey
-- The jobs that deduplicated requests resolved to; the newest one if several finished since.
select distinct on (j.queue, j.dedup_key) j.*, (j.state = 'available' and j.run_time > now()) as scheduled
from baton.jobs j
join unnest($1::text[], $2::text[]) as k(queue, dedup_key)
  on j.queue = k.queue and j.dedup_key = k.dedup_key
order by j.queue, j.dedup_key, (j.state in ('available', 'blocked', 'leased')) desc, j.id desc;

-- name: JobGet
select *, (state = 'available' and run_time > coalesce($2::timestamptz, now())) as scheduled
from baton.jobs where id = $1;

-- name: JobClaim
-- Leases up to $2 due jobs of one queue to this replica, in claim order, skipping rows that
-- other replicas are claiming. Also reports when the next not-yet-due job of the queue is due,
-- so the dispatcher can arm a timer instead of polling.
with due as (
  select id from baton.jobs
  where queue = $1 and state = 'available' and run_time <= coalesce($5::timestamptz, now())
  order by priority, run_time, id
  limit $2
  for update skip locked
),
claimed as (
  update baton.jobs j
  set state = 'leased',
      attempt = j.attempt + 1,
      lease_token = gen_random_uuid(),
      lease_expire_time = coalesce($5::timestamptz, now()) + make_interval(secs => $3::float8),
      lease_owner = $4
  from due
  where j.id = due.id
  returning j.*
)
-- Exactly one row with a null id when nothing was claimed, so next_due_time always arrives.
select claimed.*, (claimed.run_time > coalesce($5::timestamptz, now())) as scheduled, next.next_due_time
from (
  select min(run_time) as next_due_time from baton.jobs
  where queue = $1 and state = 'available' and run_time > coalesce($5::timestamptz, now())
) next
left join claimed on true;

-- name: JobUnclaim
-- Returns jobs that were claimed but could not be delivered (their stream closed meanwhile):
-- the attempt never started, so it is not counted.
update baton.jobs j
set state = 'available', attempt = j.attempt - 1,
    lease_token = null, lease_expire_time = null, lease_owner = null
from unnest($1::bigint[], $2::uuid[]) as l(id, lease_token)
where j.id = l.id and j.lease_token = l.lease_token and j.state = 'leased'
returning j.queue;

-- name: JobAckMany
-- Settles attempts as succeeded. Fenced: only the current lease of a leased job matches.
update baton.jobs j
set state = 'succeeded', finish_time = coalesce($4::timestamptz, now()), result = a.result,
    lease_token = null, lease_expire_time = null, lease_owner = null
from unnest($1::bigint[], $2::uuid[], $3::bytea[]) as a(id, lease_token, result)
where j.id = a.id and j.lease_token = a.lease_token and j.state = 'leased'
returning j.id;

-- name: JobNackMany
-- Settles attempts as failed: back to the queue after an exponential backoff with equal jitter
-- (half fixed, half random, so delays grow with each attempt), or DEAD when the budget is spent
-- or the worker asked for it. Fenced like JobAckMany.
with failed as (
  select j.id, n.error, n.dead_letter,
         coalesce(
           n.retry_delay_seconds,
           least($6::float8, $5::float8 * power(2, j.attempt - 1)) * (0.5 + random() / 2)
         ) as delay_seconds,
         n.dead_letter or j.attempt >= j.max_attempts as is_dead
  from baton.jobs j
  join unnest($1::bigint[], $2::uuid[], $3::text[], $4::float8[], $7::bool[])
    as n(id, lease_token, error, retry_delay_seconds, dead_letter)
    on j.id = n.id and j.lease_token = n.lease_token
  where j.state = 'leased'
  for update of j
)
update baton.jobs j
set state = case when f.is_dead then 'dead'::baton.job_state else 'available' end,
    run_time = case when f.is_dead then j.run_time
                    else coalesce($8::timestamptz, now()) + make_interval(secs => f.delay_seconds) end,
    finish_time = case when f.is_dead then coalesce($8::timestamptz, now()) end,
    last_error = f.error,
    errors = j.errors || jsonb_build_object(
      'attempt', j.attempt, 'message', f.error, 'time', coalesce($8::timestamptz, now())),
    lease_token = null, lease_expire_time = null, lease_owner = null
from failed f
where j.id = f.id
returning j.id, j.queue, j.state, j.run_time;

-- name: JobSettleFailureReasons
-- Why settling these jobs matched nothing: the job is gone, not leased, or leased anew.
select k.id, j.state, j.lease_token = k.lease_token as token_matches
from unnest($1::bigint[], $2::uuid[]) as k(id, lease_token)
left join baton.jobs j on j.id = k.id;

-- name: JobProgressMany
update baton.jobs j
set progress_percent = p.percent, progress_message = p.message
from unnest($1::bigint[], $2::uuid[], $3::int[], $4::text[]) as p(id, lease_token, percent, message)
where j.id = p.id and j.lease_token = p.lease_token and j.state = 'leased';

-- name: JobRenewMany
-- Extends every listed lease by the lease duration; a lease missing from the output was lost
-- (reaped, settled elsewhere or cancelled) and its worker must be told.
update baton.jobs j
set lease_expire_time = coalesce($4::timestamptz, now()) + make_interval(secs => $3::float8)
from unnest($1::bigint[], $2::uuid[]) as l(id, lease_token)
where j.id = l.id and j.lease_token = l.lease_token and j.state = 'leased'
returning j.id;

-- name: JobReleaseMany
-- Gives back the jobs of a stream that ended: at once to the queue, or DEAD if that attempt
-- was the last. The attempt counts, so a job that kills its worker each time still ends.
update baton.jobs j
set state = case when j.attempt >= j.max_attempts then 'dead'::baton.job_state else 'available' end,
    finish_time = case when j.attempt >= j.max_attempts then coalesce($4::timestamptz, now()) end,
    run_time = case when j.attempt >= j.max_attempts then j.run_time else coalesce($4::timestamptz, now()) end,
    last_error = $3,
    errors = j.errors || jsonb_build_object(
      'attempt', j.attempt, 'message', $3::text, 'time', coalesce($4::timestamptz, now())),
    lease_token = null, lease_expire_time = null, lease_owner = null
from unnest($1::bigint[], $2::uuid[]) as l(id, lease_token)
where j.id = l.id and j.lease_token = l.lease_token and j.state = 'leased'
returning j.queue;

-- name: JobReapExpired
-- Re-queues up to $1 jobs whose lease expired (their replica died or lost its database), by
-- database time. Safe on every replica at once: rows locked by another reaper are skipped.
with expired as (
  select id from baton.jobs
  where state = 'leased' and lease_expire_time < coalesce($2::timestamptz, now())
  order by lease_expire_time
  limit $1
  for update skip locked
)
update baton.jobs j
set state = case when j.attempt >= j.max_attempts then 'dead'::baton.job_state else 'available' end,
    finish_time = case when j.attempt >= j.max_attempts then coalesce($2::timestamptz, now()) end,
    run_time = case when j.attempt >= j.max_attempts then j.run_time else coalesce($2::timestamptz, now()) end,
    last_error = 'lease expired',
    errors = j.errors || jsonb_build_object(
      'attempt', j.attempt, 'message', 'lease expired', 'time', coalesce($2::timestamptz, now())),
    lease_token = null, lease_expire_time = null, lease_owner = null
from expired
where j.id = expired.id
returning j.queue;
