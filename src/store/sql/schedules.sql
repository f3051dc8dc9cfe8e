-- Queries of the schedules table. Each block starts with "-- name: <name>" and becomes a named
-- prepared statement. @now, where a statement takes it, is NULL in production (database time)
-- and a fixed instant in tests. Cron arithmetic happens in the broker (the database has no cron
-- parser); the broker computes times from the database's now, never from its own clock.

-- fragment: ScheduleColumns
-- A schedule as ScheduleRow reads it (src/store/schedules.ts), of the row the statement names s.
s.name, s.queue, s.cron, s.time_zone, s.payload, s.headers, s.priority, s.max_attempts,
s.next_run_time, s.last_run_time, s.create_time, s.paused,
extract(epoch from s.catchup_window)::float8 as catchup_window_seconds, s.overlap_policy,
s.last_job_id::text as last_job_id

-- fragment: PreviousJobUnfinished
-- Whether the job of the schedule's latest fire has yet to finish (what overlap_policy 'skip'
-- waits for); a deleted job has finished. A scalar subquery, so that each schedule reads its job
-- along the jobs' primary key: an EXISTS here may be planned as one hashed scan of every job.
coalesce((select j.state in ('available', 'blocked', 'leased') from baton.jobs j where j.id = s.last_job_id), false)

-- name: ScheduleNow
-- The instant a new schedule's first fire time is computed from.
select coalesce(@now::timestamptz, now()) as now;

-- name: ScheduleCreate
-- Returns no row when the name is taken: names are unique and a schedule is never replaced
-- silently.
insert into baton.schedules as s (name, queue, cron, time_zone, payload, headers, priority, max_attempts,
                                   catchup_window, overlap_policy, next_run_time)
values (@name, @queue, @cron, @timeZone, @payload, @headers, @priority, @maxAttempts,
        make_interval(secs => @catchupWindowSeconds::float8), @overlapPolicy, @nextRunTime)
on conflict (name) do nothing
returning {{ScheduleColumns}};

-- name: SchedulePage
-- A page of schedules in name order, after the keyset cursor @afterName (a name; from the first when
-- null), read along the primary key: at most @limit rows, and only as many as keep their payloads
-- and headers within @maxBytes bytes (the first row always), like JobListPage. `more` says whether a
-- row follows the row it is on.
select page.* from (
  select {{ScheduleColumns}}, row_number() over by_name as position,
         sum(octet_length(payload) + pg_column_size(headers)) over by_name as bytes_so_far,
         lead(name) over by_name is not null as more
  from baton.schedules s
  where @afterName::text is null or name > @afterName
  window by_name as (order by name rows between unbounded preceding and current row)
  order by name
  limit @limit
) page
where position = 1 or bytes_so_far <= @maxBytes
order by name;

-- name: ScheduleDelete
delete from baton.schedules where name = @name returning name;

-- name: ScheduleLock
-- One schedule, locked until the end of the caller's transaction (UpdateSchedule and
-- TriggerSchedule): a replica firing it holds the lock until its fire commits, and the
-- scheduler skips the schedule while this transaction holds it.
select {{ScheduleColumns}}, {{PreviousJobUnfinished}} as previous_job_unfinished,
       coalesce(@now::timestamptz, now()) as db_now
from baton.schedules s
where s.name = @name
for update;

-- name: ScheduleUpdate
-- Replaces the definition of a schedule locked by ScheduleLock; its fires so far (last_run_time,
-- last_job_id) and whether it is paused stay.
update baton.schedules s
set queue = @queue, cron = @cron, time_zone = @timeZone, payload = @payload, headers = @headers,
    priority = @priority, max_attempts = @maxAttempts,
    catchup_window = make_interval(secs => @catchupWindowSeconds::float8),
    overlap_policy = @overlapPolicy, next_run_time = @nextRunTime
where s.name = @name
returning {{ScheduleColumns}};

-- name: ScheduleSetPaused
-- Pauses or resumes a schedule; idempotent. next_run_time is left alone, so a resumed schedule
-- is due for what it missed, which the scheduler makes up per catchup_window. Waits for a
-- replica firing the schedule, so no fire commits after a pause has returned.
update baton.schedules s
set paused = @paused
where s.name = @name
returning {{ScheduleColumns}};

-- name: ScheduleClaimDue
-- Locks up to @limit due schedules for the caller's transaction. SKIP LOCKED keeps replicas apart:
-- a schedule being fired elsewhere is skipped, and once that transaction commits its
-- next_run_time is in the future, so the row no longer matches (Postgres re-checks the WHERE
-- clause on the committed version). Each fire time therefore fires on exactly one replica.
select {{ScheduleColumns}}, {{PreviousJobUnfinished}} as previous_job_unfinished,
       coalesce(@now::timestamptz, now()) as db_now
from baton.schedules s
where s.next_run_time <= coalesce(@now::timestamptz, now()) and not s.paused
order by s.next_run_time, s.name
limit @limit
for update skip locked;

-- name: ScheduleAdvance
-- Records fires (or, with a null last_run_time, only moves a schedule on) for rows locked by
-- ScheduleClaimDue or ScheduleLock in the same transaction. last_job_id is the job of the
-- latest fire, null when it fired none.
update baton.schedules s
set last_run_time = coalesce(a.last_run_time, s.last_run_time), next_run_time = a.next_run_time,
    last_job_id = coalesce(a.last_job_id, s.last_job_id)
from unnest(@names::text[], @lastRunTimes::timestamptz[], @nextRunTimes::timestamptz[], @lastJobIds::bigint[])
  as a(name, last_run_time, next_run_time, last_job_id)
where s.name = a.name;
