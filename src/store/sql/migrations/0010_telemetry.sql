-- Telemetry without a per-job tax. Counters and histograms move out of the database: each
-- replica keeps its own in memory from the rows its statements return (src/telemetry/
-- job-metrics.ts), and a sum() over replicas is the cluster's total. The triggers keep writing
-- spans in the transaction of each state change, so a span is still exported only once its
-- change committed, but only for jobs whose trace is sampled: an unsampled job writes no span
-- row at all.

-- Whether the job's trace is sampled, decided once when the job is created (see
-- baton.jobs_trace_context): the producer's traceparent flags (in `serve` with an OTLP
-- endpoint, the broker's RPC span is that producer, sampled by OTEL_TRACES_SAMPLER), else the
-- trace of the job it continues or the chain it joins, else sampled. Spans are written only
-- while some replica exports them, whatever the flag. A constant default: a function here
-- would run once per inserted row. Rows from before this migration were traced by the earlier
-- rules, which knew no sampling.
alter table baton.jobs add column trace_sampled boolean not null default true;

-- As in 0005, plus the sampled flag: bit 0 of a traceparent's flags, a continuation's parent's
-- flag, a chain root's flag. Reads by primary key whatever the plan, as 0009 set it to (a
-- replaced function keeps no setting of the one it replaces).
create or replace function baton.jobs_trace_context() returns trigger
language plpgsql set enable_seqscan = off as $$
declare
  tp text := new.headers->>'traceparent';
  tp_trace uuid;
  tp_span text;
  tp_sampled boolean;
  chain_trace uuid;
  chain_sampled boolean;
begin
  -- W3C trace-context: version-traceid-parentid-flags, all lowercase hex, ids not all zero.
  if tp ~ '^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}(-|$)' and left(tp, 2) <> 'ff'
     and substr(tp, 4, 32) <> repeat('0', 32) and substr(tp, 37, 16) <> repeat('0', 16) then
    tp_trace := substr(tp, 4, 32)::uuid;
    tp_span := substr(tp, 37, 16);
    tp_sampled := (('x' || substr(tp, 54, 2))::bit(8) & b'00000001') <> b'00000000';
  end if;

  if new.parent_id is not null then
    -- A continuation, created with its parent's ack: the send span hangs under the process
    -- span of the parent's current attempt (the one that created it).
    select baton.job_trace_id(p.trace_id, p.chain_id), baton.process_span_id(p.id, p.attempt, jsonb_array_length(p.errors)), p.trace_sampled
      into new.trace_id, new.send_parent_span_id, new.trace_sampled
    from baton.jobs p where p.id = new.parent_id;
    if found then return new; end if;
  end if;

  if new.chain_id <> new.id then
    -- Joins an existing chain: its trace. The producer's span is the parent when it belongs
    -- to that trace, else the chain root's send span.
    select baton.job_trace_id(r.trace_id, r.chain_id), r.trace_sampled into chain_trace, chain_sampled
    from baton.jobs r where r.id = new.chain_id;
    if found then
      new.trace_id := chain_trace;
      new.trace_sampled := chain_sampled;
      new.send_parent_span_id := case when tp_trace = chain_trace then tp_span else baton.send_span_id(new.chain_id) end;
      return new;
    end if;
  end if;

  if tp_trace is not null then
    new.trace_id := tp_trace;
    new.send_parent_span_id := tp_span;
    new.trace_sampled := tp_sampled;
  end if;
  return new;
end;
$$;

-- Created jobs: a send span each, for sampled traces.
create or replace function baton.jobs_inserted_telemetry() returns trigger
language plpgsql as $$
begin
  if not exists (select 1 from new_jobs n where n.trace_sampled) or not baton.span_export_active() then
    return null;
  end if;
  insert into baton.span_outbox (trace_id, parent_span_id, operation, start_time, end_time,
                                 job_id, queue, chain_id, parent_job_id)
  select baton.job_trace_id(n.trace_id, n.chain_id), n.send_parent_span_id, 'send',
         n.create_time, greatest(n.create_time, clock_timestamp()), n.id, n.queue, n.chain_id, n.parent_id
  from new_jobs n
  where n.trace_sampled;
  return null;
end;
$$;

-- State changes: the process and blocked spans of sampled traces. Updates of unsampled jobs,
-- and updates that end no attempt and no wait (claims, renewals, progress), stop at the first
-- check.
create or replace function baton.jobs_updated_telemetry() returns trigger
language plpgsql as $$
begin
  if not exists (select 1 from new_jobs n where n.trace_sampled and n.state not in ('leased', 'blocked'))
     or not baton.span_export_active() then
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
  where n.trace_sampled and o.state = 'leased' and n.state <> 'leased' and n.attempt = o.attempt
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
  where n.trace_sampled and o.state = 'blocked' and n.state <> 'blocked';
  return null;
end;
$$;

-- The counters lived here until now.
drop table baton.metric_counters;
drop function baton.metric_bucket_index(double precision);
drop function baton.metric_bounds();
