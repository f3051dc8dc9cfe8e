-- Job chains and dependencies, and the start time of the current attempt.

alter table baton.jobs
  -- When the current (or last) attempt started; spans and run-duration metrics use it.
  add column attempt_start_time timestamptz;

-- Which jobs wait for which (depends_on). A row is deleted when its blocker succeeds; a job
-- whose last row goes becomes AVAILABLE in that same transaction.
create table baton.job_dependencies (
  job_id bigint not null references baton.jobs (id) on delete cascade,
  blocker_id bigint not null,
  primary key (job_id, blocker_id),
  constraint not_self check (job_id <> blocker_id)
);

create index job_dependencies_blocker_idx on baton.job_dependencies (blocker_id);

-- Settles the dependants of jobs that just finished, for every statement that finishes jobs,
-- whatever its path (ack, nack, cancel, reaper, SQL): a success unblocks dependants whose
-- blockers have all succeeded; a DEAD or CANCELLED blocker cancels its dependants with the
-- reason, and so on down the chain (the update fires this trigger again).
create function baton.settle_dependants() returns trigger
language plpgsql as $$
declare
  woken bigint;
begin
  -- Cheap exits first: this runs after every update of jobs, including its own updates below
  -- (which is how cancellations cascade, and why it must stop when nothing finished).
  if not exists (select 1 from baton.job_dependencies limit 1) then
    return null;
  end if;
  if not exists (
    select 1 from new_jobs n join old_jobs o on o.id = n.id
    where n.state in ('succeeded', 'dead', 'cancelled') and o.state is distinct from n.state
  ) then
    return null;
  end if;

  with finished as (
    select n.id, n.state from new_jobs n join old_jobs o on o.id = n.id
    where n.state in ('succeeded', 'dead', 'cancelled') and o.state is distinct from n.state
  ),
  released as (
    delete from baton.job_dependencies d using finished f
    where d.blocker_id = f.id and f.state = 'succeeded'
    returning d.job_id
  ),
  -- The delete above is not visible to this statement, so blockers that just succeeded are
  -- excluded by hand when looking for the ones still pending.
  unblocked as (
    update baton.jobs j
    set state = 'available', run_time = greatest(j.run_time, now())
    where j.id in (select job_id from released) and j.state = 'blocked'
      and not exists (
        select 1 from baton.job_dependencies d
        where d.job_id = j.id
          and d.blocker_id not in (select f.id from finished f where f.state = 'succeeded'))
    returning j.queue
  )
  select count(pg_notify('baton_jobs', q.queue)) into woken from (select distinct queue from unblocked) q;

  update baton.jobs j
  set state = 'cancelled', finish_time = now(),
      last_error = format('blocker %s ended %s', f.id, f.state),
      errors = j.errors || jsonb_build_object('attempt', j.attempt,
                 'message', format('blocker %s ended %s', f.id, f.state), 'time', now())
  from baton.job_dependencies d
  join (select n.id, n.state from new_jobs n join old_jobs o on o.id = n.id
        where n.state in ('dead', 'cancelled') and o.state is distinct from n.state) f on f.id = d.blocker_id
  where j.id = d.job_id and j.state = 'blocked';

  return null;
end;
$$;

create trigger jobs_settle_dependants
  after update on baton.jobs
  referencing old table as old_jobs new table as new_jobs
  for each statement execute function baton.settle_dependants();
