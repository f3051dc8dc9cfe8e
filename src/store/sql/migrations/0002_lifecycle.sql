-- Queues, cancellation, timeouts, fairness, worker registry, cron schedules, and enqueue from SQL.

-- Per-queue settings. A queue needs no row to be used: a missing row, or a null column, means
-- the broker's default; a null limit means no limit.
create table baton.queues (
  name text primary key,
  paused boolean not null default false,
  max_attempts integer,
  lease_duration interval,
  retry_base_delay interval,
  retry_max_delay interval,
  default_timeout interval,
  succeeded_retention interval,
  dead_retention interval,
  cancelled_retention interval,
  concurrency_limit integer,
  rate_limit double precision,
  fairness_key_limit integer,
  -- Token bucket of the rate limit: tokens left at rate_refill_time.
  rate_tokens double precision not null default 0,
  rate_refill_time timestamptz,
  update_time timestamptz not null default now(),

  constraint queue_name_valid check (name ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$'),
  constraint max_attempts_range check (max_attempts between 1 and 1000),
  constraint durations_positive check (
    coalesce(lease_duration, '1s') > interval '0' and coalesce(retry_base_delay, '1s') > interval '0'
    and coalesce(retry_max_delay, '1s') > interval '0' and coalesce(default_timeout, '1s') > interval '0'
    and coalesce(succeeded_retention, '1s') > interval '0' and coalesce(dead_retention, '1s') > interval '0'
    and coalesce(cancelled_retention, '1s') > interval '0'),
  constraint limits_positive check (
    coalesce(concurrency_limit, 1) > 0 and coalesce(rate_limit, 1) > 0 and coalesce(fairness_key_limit, 1) > 0)
);

alter table baton.jobs
  -- Set by CancelJob on a leased job; whoever ends the lease without an ack cancels the job.
  add column cancel_requested boolean not null default false,
  add column fairness_key text,
  -- When the current attempt must end (its timeout); leases are never renewed past it.
  add column attempt_deadline timestamptz,
  add constraint deadline_only_when_leased check (state = 'leased' or attempt_deadline is null);

-- Serves the retention sweeper.
create index jobs_finished_idx on baton.jobs (finish_time) where state in ('succeeded', 'dead', 'cancelled');

-- Serves concurrency limits: jobs of a queue running now.
create index jobs_leased_queue_idx on baton.jobs (queue, fairness_key) where state = 'leased';

-- Serves the reaper's timeout pass.
create index jobs_attempt_deadline_idx on baton.jobs (attempt_deadline) where state = 'leased' and attempt_deadline is not null;

-- Open worker streams of every replica, refreshed by each replica's lease keeper, so
-- ListWorkers shows all of them. Rows of a replica that died age out by last_seen_time.
create table baton.workers (
  session_id text primary key,
  worker_id text not null,
  queues text[] not null,
  in_flight integer not null,
  max_in_flight integer not null,
  connect_time timestamptz not null,
  last_seen_time timestamptz not null,
  replica text not null
);

create table baton.schedules (
  name text primary key,
  queue text not null,
  cron text not null,
  time_zone text not null default 'UTC',
  payload bytea not null default '\x',
  headers jsonb not null default '{}',
  priority integer not null default 0,
  max_attempts integer,
  next_run_time timestamptz not null,
  last_run_time timestamptz,
  create_time timestamptz not null default now(),

  constraint schedule_name_valid check (name ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$'),
  constraint schedule_queue_valid check (queue ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$'),
  constraint schedule_max_attempts_range check (max_attempts between 1 and 1000)
);

create index schedules_due_idx on baton.schedules (next_run_time);

-- Enqueues one job from SQL, inside the caller's transaction: the job exists, and the wakeup
-- fires, only if that transaction commits. Returns the new job's id, or the id of the
-- unfinished job that already holds dedup_key.
create function baton.enqueue(
  queue text,
  payload bytea default '\x',
  headers jsonb default '{}',
  priority integer default 0,
  run_time timestamptz default null,
  max_attempts integer default null,
  dedup_key text default null
) returns bigint
language plpgsql as $$
-- Parameters share names with columns; in SQL below, a bare name means the column.
#variable_conflict use_column
declare
  new_id bigint := nextval(pg_get_serial_sequence('baton.jobs', 'id'));
  inserted_id bigint;
begin
  insert into baton.jobs (id, queue, payload, headers, priority, run_time, max_attempts, dedup_key, chain_id)
  values (
    new_id, enqueue.queue, coalesce(enqueue.payload, '\x'), coalesce(enqueue.headers, '{}'),
    coalesce(enqueue.priority, 0), coalesce(enqueue.run_time, now()),
    coalesce(enqueue.max_attempts, (select q.max_attempts from baton.queues q where q.name = enqueue.queue), 25),
    enqueue.dedup_key, new_id)
  on conflict (queue, dedup_key) where dedup_key is not null and state in ('available', 'blocked', 'leased')
    do nothing
  returning id into inserted_id;
  if inserted_id is null then
    select j.id into inserted_id from baton.jobs j
    where j.queue = enqueue.queue and j.dedup_key = enqueue.dedup_key
      and j.state in ('available', 'blocked', 'leased');
    return inserted_id;
  end if;
  perform pg_notify('baton_jobs', enqueue.queue);
  return inserted_id;
end;
$$;
