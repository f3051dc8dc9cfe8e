-- Queries of the schedules table. Each block starts with "-- name: <name>" and becomes a named
-- prepared statement. @now, where a statement takes it, is NULL in production (database time)
-- and a fixed instant in tests. Cron arithmetic happens in the broker (the database has no cron
-- parser); the broker computes times from the database's now, never from its own clock.

-- fragment: ScheduleColumns
-- A schedule as ScheduleRow reads it (src/store/schedules.ts), of the row the statement names s.
s.name, s.queue, s.cron, s.time_zone, s.payload, s.headers, s.priority, s.max_attempts,
s.next_run_time, s.last_run_time, s.create_time

-- name: ScheduleNow
-- The instant a new schedule's first fire time is computed from.
select coalesce(@now::timestamptz, now()) as now;

-- name: ScheduleCreate
-- Returns no row when the name is taken: names are unique and a schedule is never replaced
-- silently.
insert into baton.schedules as s (name, queue, cron, time_zone, payload, headers, priority, max_attempts, next_run_time)
values (@name, @queue, @cron, @timeZone, @payload, @headers, @priority, @maxAttempts, @nextRunTime)
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

-- name: ScheduleClaimDue
-- Locks up to @limit due schedules for the caller's transaction. SKIP LOCKED keeps replicas apart:
-- a schedule being fired elsewhere is skipped, and once that transaction commits its
-- next_run_time is in the future, so the row no longer matches (Postgres re-checks the WHERE
-- clause on the committed version). Each fire time therefore fires on exactly one replica.
select {{ScheduleColumns}}, coalesce(@now::timestamptz, now()) as db_now
from baton.schedules s
where s.next_run_time <= coalesce(@now::timestamptz, now())
order by s.next_run_time, s.name
limit @limit
for update skip locked;

-- name: ScheduleAdvance
-- Records a fire (or, with a null last_run_time, only moves a schedule on) for rows locked by
-- ScheduleClaimDue in the same transaction.
update baton.schedules s
set last_run_time = coalesce(a.last_run_time, s.last_run_time), next_run_time = a.next_run_time
from unnest(@names::text[], @lastRunTimes::timestamptz[], @nextRunTimes::timestamptz[]) as a(name, last_run_time, next_run_time)
where s.name = a.name;
