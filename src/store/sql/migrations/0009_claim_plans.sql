-- Lookups of the hot statements that must read an index whatever plan the statement got.
-- The broker runs its statements as generic plans (store/database.ts), built once per
-- connection from the statistics of the moment. Built while baton.jobs was empty (a new
-- database, or one emptied and vacuumed), every lookup in them is a sequential scan, the
-- cheapest way to read nothing, and the plan is kept until the next ANALYZE: on a table that
-- filled meanwhile, each lookup reads the whole table. No cost model prefers an index on an
-- empty table, so these functions plan their bodies with sequential scans off; the statements
-- call them, once per statement or once per row that needs them.

-- When the next not-yet-due available job of the queues is due (null: none). jobs_claim_idx
-- orders a queue's jobs by priority first, so the earliest run_time after `after` is the least
-- of each priority's first entry after it: a loose scan over the queue's few priorities, a
-- handful of index descents however long the backlog (min(run_time) over the queue read every
-- available job of it).
create function baton.next_due_time(queues text[], after timestamptz) returns timestamptz
language sql stable strict set enable_seqscan = off as $$
  with recursive priorities(queue, priority) as (
    select q.queue, (select j.priority from baton.jobs j
                     where j.queue = q.queue and j.state = 'available'
                     order by j.priority limit 1)
    from unnest(queues) as q(queue)
    union all
    select p.queue, (select j.priority from baton.jobs j
                     where j.queue = p.queue and j.state = 'available' and j.priority > p.priority
                     order by j.priority limit 1)
    from priorities p where p.priority is not null
  )
  select min((select j.run_time from baton.jobs j
              where j.queue = p.queue and j.state = 'available' and j.priority = p.priority and j.run_time > after
              order by j.run_time limit 1))
  from priorities p where p.priority is not null
$$;

-- The chain a continuation joins: its parent's (null: no such job).
create function baton.chain_of(parent bigint) returns bigint
language sql stable strict set enable_seqscan = off as $$
  select j.chain_id from baton.jobs j where j.id = parent
$$;

-- The insert trigger that carries a continuation's trace reads its parent and its chain's root
-- by primary key, once per such row, through plans of its own that are cached like the
-- statements'.
alter function baton.jobs_trace_context() set enable_seqscan = off;
