-- The worker behind each attempt's span (messaging.client.id): the settle statements
-- (JobAckMany, JobFailMany) record which worker, by its hello's worker_id, held the attempt,
-- and the process span carries it. Claims stay as they were: one claim serves several streams,
-- and only the settlement knows whose attempt it was.

-- The worker that held the job's latest attempt until it ended (its ack, nack, timeout or
-- closed stream); null when no replica knew it any more (a lease expired with its replica).
-- Set by every settlement, so it never outlives its attempt.
alter table baton.jobs add column worker_id text;

-- process spans: the worker that ended the attempt.
alter table baton.span_outbox add column worker_id text;

-- As in 0010, plus the worker.
create or replace function baton.jobs_updated_telemetry() returns trigger
language plpgsql as $$
begin
  if not exists (select 1 from new_jobs n where n.trace_sampled and n.state not in ('leased', 'blocked'))
     or not baton.span_export_active() then
    return null;
  end if;
  insert into baton.span_outbox (trace_id, operation, start_time, end_time, job_id, queue,
                                 chain_id, parent_job_id, attempt, run, outcome, error, replica, worker_id, ready_time, links)
  select baton.job_trace_id(n.trace_id, n.chain_id), 'process', coalesce(o.attempt_start_time, n.finish_time, now()),
         coalesce(n.finish_time, now()), n.id, n.queue, n.chain_id, n.parent_id, n.attempt,
         -- Failed attempts before this one, as when it was claimed (see baton.process_span_id).
         jsonb_array_length(o.errors),
         case when n.state = 'available' then 'retried' else n.state::text end,
         case when n.state <> 'succeeded' then n.last_error end, o.lease_owner, n.worker_id, o.run_time, null
  from new_jobs n join old_jobs o on o.id = n.id
  where n.trace_sampled and o.state = 'leased' and n.state <> 'leased' and n.attempt = o.attempt
  union all
  select baton.job_trace_id(n.trace_id, n.chain_id), 'blocked', n.create_time, now(), n.id, n.queue, n.chain_id,
         n.parent_id, n.attempt, jsonb_array_length(o.errors), n.state::text,
         case when n.state = 'cancelled' then n.last_error end, null, null, null,
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
