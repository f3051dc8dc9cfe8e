-- Queries of the schedules table. Each block starts with "-- name: <name>" and becomes a named
-- prepared statement. $now, where a query takes it, is NULL in production (database time)
-- and a fixed instant in tests. Cron arithmetic happens in the broker (the database has no cron
-- parser); the broker computes times from the database's now, never from its own clock.

-- name: ScheduleNow
-- The instant a new schedule's first fire time is computed from.
select coalesce($1::timestamptz, now()) as now;

-- name: ScheduleCreate
-- Returns no row when the name is taken: names are unique and a schedule is never replaced
-- silently.
insert into baton.schedules (name, queue, cron, time_zone, payload, headers, priority, max_attempts, next_run_time)
values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
on conflict (name) do nothing
returning *;

-- name: SchedulePage
-- A page of schedules in name order, after the keyset cursor $1 (a name; from the first when
-- null), read along the primary key: at most $2 rows, and only as many as keep their payloads
-- and headers within $3 bytes (the first row always), like JobListPage. `more` says whether a
-- row follows the row it is on.
select * from (
  select *, row_number() over by_name as position,
         sum(octet_length(payload) + pg_column_size(headers)) over by_name as bytes_so_far,
         lead(name) over by_name is not null as more
  from baton.schedules
  where $1::text is null or name > $1
  window by_name as (order by name rows between unbounded preceding and current row)
  order by name
  limit $2
) page
where position = 1 or bytes_so_far <= $3
order by name;

-- name: ScheduleDelete
delete from baton.schedules where name = $1 returning name;

-- name: ScheduleClaimDue
-- Locks up to $1 due schedules for the caller's transaction. SKIP LOCKED keeps replicas apart:
-- a schedule being fired elsewhere is skipped, and once that transaction commits its
-- next_run_time is in the future, so the row no longer matches (Postgres re-checks the WHERE
-- clause on the committed version). Each fire time therefore fires on exactly one replica.
select s.*, coalesce($2::timestamptz, now()) as db_now
from baton.schedules s
where s.next_run_time <= coalesce($2::timestamptz, now())
order by s.next_run_time, s.name
limit $1
for update skip locked;

-- name: ScheduleAdvance
-- Records a fire (or, with a null last_run_time, only moves a schedule on) for rows locked by
-- ScheduleClaimDue in the same transaction.
update baton.schedules s
set last_run_time = coalesce(a.last_run_time, s.last_run_time), next_run_time = a.next_run_time
from unnest($1::text[], $2::timestamptz[], $3::timestamptz[]) as a(name, last_run_time, next_run_time)
where s.name = a.name;
