-- Dependants: fan-in that no interleaving of settlements can strand, a repair for jobs that
-- earlier releases stranded, and dependency rows that retries can rebuild.
--
-- From here on a job_dependencies row exists only while its dependant is BLOCKED: a row is
-- deleted when its blocker succeeds, and every row of a dependant goes when the dependant
-- finishes (cancelled by a failed blocker, or by CancelJob). RetryJob rebuilds the rows of a
-- retried dependant from its depends_on (see JobRetry). Only a transaction that holds the
-- dependant's row lock changes its rows.

-- Earlier releases kept the rows of cancelled dependants.
delete from baton.job_dependencies d using baton.jobs j where j.id = d.job_id and j.state <> 'blocked';

-- Serves the repair sweep: it looks at blocked jobs only.
create index jobs_blocked_idx on baton.jobs (id) where state = 'blocked';

-- Settles the dependants of the jobs that just finished, for every statement that finishes
-- jobs (ack, nack, cancel, reaper, SQL): a success releases its rows, and a dependant left
-- with none becomes AVAILABLE; a DEAD or CANCELLED blocker cancels its dependants with the
-- reason, and so on down the chain (the update fires this trigger again).
--
-- Fan-in: the version in 0003 counted a dependant's remaining rows without locking it, so two
-- settlements in flight, each finishing one of its blockers, each still saw the other's row and
-- neither unblocked it. Here the dependants are locked first, in id order (as every statement
-- that locks several job rows does, so settlements never deadlock), and counted after: a
-- settlement that finished another of their blockers holds those locks until it commits, and
-- each statement of a plpgsql function takes a fresh snapshot under READ COMMITTED, so the
-- count runs after that commit and sees its delete. Whichever settlement comes last sees no
-- row left. That fresh snapshot is READ COMMITTED's, PostgreSQL's default and the isolation
-- every Baton connection uses (test/dependants.test.ts interleaves the commits by hand).
create or replace function baton.settle_dependants() returns trigger
language plpgsql as $$
declare
  finished_ids bigint[];
  finished_states baton.job_state[];
  dependants bigint[];
  woken bigint;
begin
  -- Cheap exits first: this runs after every update of jobs, including its own updates below
  -- (which is how cancellations cascade, and why it must stop when nothing finished).
  if not exists (select 1 from baton.job_dependencies limit 1) then
    return null;
  end if;
  select array_agg(n.id), array_agg(n.state) into finished_ids, finished_states
  from new_jobs n join old_jobs o on o.id = n.id
  where n.state in ('succeeded', 'dead', 'cancelled') and o.state is distinct from n.state;
  if finished_ids is null then
    return null;
  end if;

  -- A dependant that finished itself (CancelJob on a blocked job) waits for nothing any more.
  -- It was locked by the update that finished it.
  delete from baton.job_dependencies d where d.job_id = any(finished_ids);

  select array_agg(l.id) into dependants from (
    select j.id from baton.jobs j
    where j.id in (select d.job_id from baton.job_dependencies d where d.blocker_id = any(finished_ids))
      and j.state = 'blocked'
    order by j.id
    for update of j
  ) l;
  if dependants is null then
    return null;
  end if;

  delete from baton.job_dependencies d
  using unnest(finished_ids, finished_states) f(id, state)
  where d.blocker_id = f.id and f.state = 'succeeded' and d.job_id = any(dependants);

  with unblocked as (
    update baton.jobs j
    set state = 'available', run_time = greatest(j.run_time, now())
    where j.id = any(dependants) and j.state = 'blocked'
      and not exists (select 1 from baton.job_dependencies d where d.job_id = j.id)
    returning j.queue
  )
  select count(pg_notify('baton_jobs', q.queue)) into woken from (select distinct queue from unblocked) q;

  -- Fires this trigger again for the cancelled jobs: their own rows go, their dependants follow.
  update baton.jobs j
  set state = 'cancelled', finish_time = now(),
      last_error = format('blocker %s ended %s', f.id, f.state),
      errors = j.errors || jsonb_build_object('attempt', j.attempt,
                 'message', format('blocker %s ended %s', f.id, f.state), 'time', now())
  from (
    select distinct on (d.job_id) d.job_id, b.id, b.state
    from baton.job_dependencies d
    join unnest(finished_ids, finished_states) b(id, state) on b.id = d.blocker_id
    where d.job_id = any(dependants) and b.state in ('dead', 'cancelled')
    order by d.job_id, b.id
  ) f
  where j.id = f.job_id and j.state = 'blocked';
  return null;
end;
$$;

-- Repairs dependants that are BLOCKED with nothing left to wait for: every dependency row is
-- gone, or names a blocker that succeeded (it becomes AVAILABLE), or names a blocker that no
-- longer exists (deleted by retention or by hand: it is CANCELLED with that reason). Up to
-- max_jobs of them (null: all), skipping dependants that another transaction holds; returns
-- the repaired jobs. A dependant waiting for a DEAD or CANCELLED blocker is not stranded: a
-- retried dependant waits for the retry of its blocker (see JobRetry).
-- Candidates are found in one snapshot and locked; the repair runs in the next statements,
-- whose fresh snapshots see everything committed before the locks were granted.
create function baton.repair_dependants(max_jobs integer, at timestamptz default null)
returns table (id bigint, queue text, state baton.job_state)
language plpgsql as $$
-- The output columns share names with columns of jobs; in SQL below, a bare name means the column.
#variable_conflict use_column
declare
  locked bigint[];
  clock timestamptz := coalesce(at, now());
begin
  select array_agg(c.id) into locked from (
    select j.id from baton.jobs j
    where j.state = 'blocked'
      and not exists (
        select 1 from baton.job_dependencies d join baton.jobs b on b.id = d.blocker_id
        where d.job_id = j.id and b.state <> 'succeeded')
    order by j.id
    limit max_jobs
    for update of j skip locked
  ) c;
  if locked is null then
    return;
  end if;

  delete from baton.job_dependencies d using baton.jobs b
  where d.job_id = any(locked) and b.id = d.blocker_id and b.state = 'succeeded';

  return query
  with missing as (
    select distinct on (d.job_id) d.job_id, d.blocker_id
    from baton.job_dependencies d
    where d.job_id = any(locked) and not exists (select 1 from baton.jobs b where b.id = d.blocker_id)
    order by d.job_id, d.blocker_id
  ),
  cancelled as (
    update baton.jobs j
    set state = 'cancelled', finish_time = clock,
        last_error = format('blocker %s no longer exists', m.blocker_id),
        errors = j.errors || jsonb_build_object('attempt', j.attempt,
                   'message', format('blocker %s no longer exists', m.blocker_id), 'time', clock)
    from missing m
    where j.id = m.job_id and j.state = 'blocked'
    returning j.id, j.queue, j.state
  ),
  unblocked as (
    update baton.jobs j
    set state = 'available', run_time = greatest(j.run_time, clock)
    where j.id = any(locked) and j.state = 'blocked'
      and not exists (select 1 from baton.job_dependencies d where d.job_id = j.id)
    returning j.id, j.queue, j.state
  )
  select u.id, u.queue, u.state from unblocked u
  union all
  select c.id, c.queue, c.state from cancelled c;

  -- The jobs just made available are the locked ones now available: this transaction holds them.
  perform pg_notify('baton_jobs', q.queue)
  from (select distinct j.queue from baton.jobs j where j.id = any(locked) and j.state = 'available') q;
end;
$$;

-- Jobs stranded by the earlier trigger, repaired once here; the sweep repairs the rest.
select count(*) from baton.repair_dependants(null);
