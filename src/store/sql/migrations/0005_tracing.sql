-- Telemetry written by the database itself, in the transaction of every state change: trace
-- context on each job, a span outbox that replicas export over OTLP once committed, and
-- cluster-wide counters and histograms for /metrics. Triggers do the writing, so every path
-- that changes jobs (RPCs, the reaper, dependencies, baton.enqueue from SQL) is covered and a
-- rolled-back transaction leaves no span and counts nothing.
--
-- Cost: the AFTER triggers are per statement and set-based (one pass over the transition
-- tables); the only row trigger runs for continuations, jobs that join a chain and jobs that
-- carry a producer's traceparent, and its WHEN clause is checked without calling plpgsql.

-- Trace context of a job. trace_id is its chain's trace: the producer's W3C trace when the
-- enqueue carried a traceparent, the trace of the job that created it for a continuation, the
-- chain root's for a job that joins a chain, else random (stored, so it never changes).
-- send_parent_span_id is the parent of the job's send span: the producer's span, or the
-- process span of the attempt that created a continuation; null makes the send span a root.
-- Rows created before this migration have no trace_id; baton.job_trace_id derives one.
alter table baton.jobs
  add column trace_id uuid,
  add column send_parent_span_id text;
-- Set apart from the column, so existing rows are not rewritten.
alter table baton.jobs alter column trace_id set default gen_random_uuid();

-- Span ids are derived from what identifies each span, so the same span always has the same
-- id: the broker computes a process span's id at delivery (the worker's traceparent) and the
-- trigger computes it again when the attempt ends. `run` is the number of failed attempts
-- before this one (jsonb_array_length(errors) when it was claimed): attempt numbers start
-- over when RetryJob revives a job, the error history does not. src/telemetry/trace-context.ts
-- computes the same ids. Explicit ::text casts keep the bodies immutable (bigint || text is
-- only stable), so the planner inlines these into the triggers' statements.
create function baton.send_span_id(job_id bigint) returns text
language sql immutable parallel safe as $$ select substr(md5('send:' || job_id::text), 1, 16) $$;

create function baton.process_span_id(job_id bigint, attempt integer, run integer) returns text
language sql immutable parallel safe as $$ select substr(md5('process:' || job_id::text || ':' || attempt::text || ':' || run::text), 1, 16) $$;

create function baton.blocked_span_id(job_id bigint) returns text
language sql immutable parallel safe as $$ select substr(md5('blocked:' || job_id::text), 1, 16) $$;

create function baton.job_trace_id(trace_id uuid, chain_id bigint) returns uuid
language sql immutable parallel safe as $$ select coalesce(trace_id, md5('baton-trace:' || chain_id::text)::uuid) $$;

-- Fills the trace context of continuations, jobs that join a chain, and jobs with a producer
-- traceparent (the WHEN clause of the trigger below picks them; other jobs keep the defaults).
create function baton.jobs_trace_context() returns trigger
language plpgsql as $$
declare
  tp text := new.headers->>'traceparent';
  tp_trace uuid;
  tp_span text;
  chain_trace uuid;
begin
  -- W3C trace-context: version-traceid-parentid-flags, all lowercase hex, ids not all zero.
  if tp ~ '^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}(-|$)' and left(tp, 2) <> 'ff'
     and substr(tp, 4, 32) <> repeat('0', 32) and substr(tp, 37, 16) <> repeat('0', 16) then
    tp_trace := substr(tp, 4, 32)::uuid;
    tp_span := substr(tp, 37, 16);
  end if;

  if new.parent_id is not null then
    -- A continuation, created with its parent's ack: the send span hangs under the process
    -- span of the parent's current attempt (the one that created it).
    select baton.job_trace_id(p.trace_id, p.chain_id), baton.process_span_id(p.id, p.attempt, jsonb_array_length(p.errors))
      into new.trace_id, new.send_parent_span_id
    from baton.jobs p where p.id = new.parent_id;
    if found then return new; end if;
  end if;

  if new.chain_id <> new.id then
    -- Joins an existing chain: its trace. The producer's span is the parent when it belongs
    -- to that trace, else the chain root's send span.
    select baton.job_trace_id(r.trace_id, r.chain_id) into chain_trace from baton.jobs r where r.id = new.chain_id;
    if found then
      new.trace_id := chain_trace;
      new.send_parent_span_id := case when tp_trace = chain_trace then tp_span else baton.send_span_id(new.chain_id) end;
      return new;
    end if;
  end if;

  if tp_trace is not null then
    new.trace_id := tp_trace;
    new.send_parent_span_id := tp_span;
  end if;
  return new;
end;
$$;

create trigger jobs_trace_context
  before insert on baton.jobs
  for each row
  when (new.parent_id is not null or new.chain_id <> new.id or new.headers ? 'traceparent')
  execute function baton.jobs_trace_context();

-- Spans of committed state changes, waiting for a replica's relay (src/telemetry/span-relay.ts)
-- to export them over OTLP and delete them. A row holds what identifies the span and what
-- only the database knows; names, attributes, status, links to send spans and exception
-- events are built from it at export, by the relay.
--   send     PRODUCER, one per created job, from its creation to the end of the insert
--   process  CONSUMER, one per attempt, written when the attempt ends; outcome is
--            succeeded, retried, dead or cancelled, and error the attempt's error
--   blocked  INTERNAL, from creation of a job with depends_on until it became available
--            (outcome available) or was cancelled by a failed blocker (outcome cancelled);
--            links point at the blockers' last attempts
create table baton.span_outbox (
  id bigint generated always as identity primary key,
  trace_id uuid not null,
  -- Only a send span's parent is stored (the producer's span, or the attempt that created a
  -- continuation). The span's own id, and the parent of the others (their send span), follow
  -- from job_id, attempt and run: the relay derives them, which keeps md5 off the hot path.
  parent_span_id text,
  operation text not null,
  start_time timestamptz not null,
  end_time timestamptz not null,
  job_id bigint not null,
  queue text not null,
  chain_id bigint not null,
  parent_job_id bigint,
  attempt integer not null default 0,
  -- process: failed attempts before this one (see baton.process_span_id).
  run integer not null default 0,
  outcome text,
  error text,
  -- process: the replica that held the lease; when the attempt became due.
  replica text,
  ready_time timestamptz,
  -- [{trace_id, span_id, job_id, state}]: the blockers of a blocked span.
  links jsonb,

  constraint span_outbox_operation check (operation in ('send', 'process', 'blocked'))
) with (
  -- Rows live for about one relay interval: vacuum often.
  autovacuum_vacuum_scale_factor = 0.01,
  autovacuum_vacuum_insert_scale_factor = 0.01
);

-- Replicas whose relay exports spans, with the last time each said so. While none has been
-- seen for a minute (no replica has an OTLP endpoint), the triggers write no spans at all:
-- tracing costs nothing when it is off.
create table baton.span_exporters (
  replica text primary key,
  seen_time timestamptz not null
);

create function baton.span_export_active() returns boolean
language sql stable as $$
  select exists (select 1 from baton.span_exporters where seen_time > now() - interval '1 minute')
$$;

-- Counters and histogram buckets behind /metrics, for the whole cluster. Each database
-- backend adds to rows of its own (backend = its pid), so concurrent transactions never wait
-- on one another's counters; rows of backends that ended are folded into backend 0 from time
-- to time (TelemetryFoldCounters). Histogram buckets are not cumulative here: label is the
-- bucket's upper bound (le), or 'sum' for the sum of observations.
create table baton.metric_counters (
  name text not null,
  queue text not null,
  label text not null,
  backend integer not null,
  value double precision not null,
  primary key (name, queue, label, backend)
);

-- Upper bounds (seconds) of the duration histograms' buckets.
create function baton.metric_bounds() returns double precision[]
language sql immutable parallel safe as $$
  select '{0.005,0.01,0.025,0.05,0.1,0.25,0.5,1,2.5,5,10,30,60,120,300,600,1800,3600}'::double precision[]
$$;

-- The bucket that counts `seconds`: the index in baton.metric_bounds() of the smallest bound
-- >= seconds, or 19 (+Inf) past the last. width_bucket over the negated bounds counts the
-- bounds >= seconds in one C call. One expression, so the planner inlines it.
create function baton.metric_bucket_index(seconds double precision) returns integer
language sql immutable parallel safe as $$
  select 19 - width_bucket(-seconds,
    '{-3600,-1800,-600,-300,-120,-60,-30,-10,-5,-2.5,-1,-0.5,-0.25,-0.1,-0.05,-0.025,-0.01,-0.005}'::double precision[])
$$;

-- Created jobs: the enqueued counter, and a send span each.
create function baton.jobs_inserted_telemetry() returns trigger
language plpgsql as $$
declare
  inserted_time timestamptz := clock_timestamp();
begin
  insert into baton.metric_counters as m (name, queue, label, backend, value)
  select 'jobs_enqueued_total', n.queue, '', pg_backend_pid(), count(*)
  from new_jobs n group by n.queue order by n.queue
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

create trigger jobs_inserted_telemetry
  after insert on baton.jobs
  referencing new table as new_jobs
  for each statement execute function baton.jobs_inserted_telemetry();

-- State changes: counters, histograms, and the process and blocked spans. Set-based over the
-- transition tables; updates that change no state (lease renewals, progress, adoption) fall
-- out at the join. The counters read a narrow join; the spans, when some replica exports
-- them, a join of their own.
create function baton.jobs_updated_telemetry() returns trigger
language plpgsql as $$
begin
  -- An attempt ended when a leased job left leased with its attempt kept (JobUnclaim takes
  -- the attempt back: not one). Its lease ran out when it expired (its holder vanished) or the
  -- attempt outlived its timeout.
  with changed as materialized (
    select n.queue, n.state, o.state as old_state,
           (o.state = 'leased' and n.state <> 'leased' and n.attempt = o.attempt) as attempt_ended,
           (o.lease_expire_time <= now() or o.attempt_deadline <= now()) as lease_ran_out,
           case when o.state = 'leased' and n.state <> 'leased' and n.attempt = o.attempt
                then greatest(date_part('epoch', coalesce(n.finish_time, now()) - o.attempt_start_time), 0) end as run_seconds,
           case when o.state = 'available' and n.state = 'leased'
                then greatest(date_part('epoch', coalesce(n.attempt_start_time, now()) - o.run_time), 0) end as wait_seconds
    from new_jobs n join old_jobs o on o.id = n.id
    where n.state <> o.state
  ),
  buckets as (
    select 'job_run_duration_seconds' as name, queue, baton.metric_bucket_index(run_seconds) as k, count(*) as n, sum(run_seconds) as total
    from changed where run_seconds is not null group by queue, k
    union all
    select 'job_queue_wait_seconds', queue, baton.metric_bucket_index(wait_seconds) as k, count(*), sum(wait_seconds)
    from changed where wait_seconds is not null group by queue, k
  ),
  observations as (
    select 'jobs_finished_total' as name, queue, state::text as label, count(*)::double precision as value
    from changed where state in ('succeeded', 'dead', 'cancelled') and old_state not in ('succeeded', 'dead', 'cancelled')
    group by queue, state
    union all
    select 'jobs_retried_total', queue, '', count(*) from changed where attempt_ended and state = 'available' group by queue
    union all
    select 'leases_expired_total', queue, '', count(*)
    from changed where attempt_ended and state <> 'succeeded' and lease_ran_out group by queue
    union all
    select name, queue, coalesce((baton.metric_bounds())[k]::text, '+Inf'), n from buckets
    union all
    select name, queue, 'sum', sum(total) from buckets group by name, queue
  )
  insert into baton.metric_counters as m (name, queue, label, backend, value)
  select name, queue, label, pg_backend_pid(), value from observations order by name, queue, label
  on conflict (name, queue, label, backend) do update set value = m.value + excluded.value;

  if not baton.span_export_active() then
    return null;
  end if;
  insert into baton.span_outbox (trace_id, operation, start_time, end_time, job_id, queue,
                                 chain_id, parent_job_id, attempt, run, outcome, error, replica, ready_time, links)
  select baton.job_trace_id(n.trace_id, n.chain_id), 'process', coalesce(o.attempt_start_time, n.finish_time, now()),
         coalesce(n.finish_time, now()), n.id, n.queue, n.chain_id, n.parent_id, n.attempt,
         -- Failed attempts before this one, as when it was claimed (see baton.process_span_id).
         jsonb_array_length(o.errors),
         case when n.state = 'available' then 'retried' else n.state::text end,
         case when n.state <> 'succeeded' then n.last_error end, o.lease_owner, o.run_time, null
  from new_jobs n join old_jobs o on o.id = n.id
  where o.state = 'leased' and n.state <> 'leased' and n.attempt = o.attempt
  union all
  select baton.job_trace_id(n.trace_id, n.chain_id), 'blocked', n.create_time, now(), n.id, n.queue, n.chain_id,
         n.parent_id, n.attempt, jsonb_array_length(o.errors), n.state::text,
         case when n.state = 'cancelled' then n.last_error end, null, null,
         (select jsonb_agg(jsonb_build_object(
                   'trace_id', baton.job_trace_id(b.trace_id, b.chain_id),
                   -- A failed attempt added its error; a blocker that never ran links its send span.
                   'span_id', case when b.state = 'succeeded' then baton.process_span_id(b.id, b.attempt, jsonb_array_length(b.errors))
                                   when b.state = 'dead' then baton.process_span_id(b.id, b.attempt, jsonb_array_length(b.errors) - 1)
                                   else baton.send_span_id(b.id) end,
                   'job_id', b.id::text, 'state', b.state) order by b.id)
          from baton.jobs b where b.id = any(n.depends_on))
  from new_jobs n join old_jobs o on o.id = n.id
  where o.state = 'blocked' and n.state <> 'blocked';
  return null;
end;
$$;

create trigger jobs_updated_telemetry
  after update on baton.jobs
  referencing old table as old_jobs new table as new_jobs
  for each statement execute function baton.jobs_updated_telemetry();
