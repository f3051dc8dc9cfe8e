-- Queries of the queues table. A queue needs no row to be used; these create one on first
-- change.

-- name: QueueListSettings
-- What the dispatcher and lease keeper need of every configured queue.
select name, paused,
       concurrency_limit is not null or rate_limit is not null or fairness_key_limit is not null as limited,
       rate_limit, extract(epoch from lease_duration) as lease_seconds
from baton.queues;

-- name: QueueStats
-- The queues named in $1 that have jobs or settings, in name order: their settings (null
-- columns when the queue has no row), jobs per state and the age of the oldest due available
-- job. One statement for a whole page of ListQueues.
with names as (
  select name from baton.queues where name = any($1::text[])
  union
  select distinct queue from baton.jobs where queue = any($1::text[])
)
select n.name, q.paused, q.max_attempts, q.lease_duration, q.retry_base_delay, q.retry_max_delay, q.default_timeout,
       q.succeeded_retention, q.dead_retention, q.cancelled_retention, q.concurrency_limit, q.rate_limit, q.fairness_key_limit,
       count(j.id) filter (where j.state = 'available' and j.run_time > now()) as scheduled,
       count(j.id) filter (where j.state = 'available' and j.run_time <= now()) as available,
       count(j.id) filter (where j.state = 'blocked') as blocked,
       count(j.id) filter (where j.state = 'leased') as leased,
       count(j.id) filter (where j.state = 'succeeded') as succeeded,
       count(j.id) filter (where j.state = 'dead') as dead,
       count(j.id) filter (where j.state = 'cancelled') as cancelled,
       coalesce(extract(epoch from now() - min(j.run_time) filter (where j.state = 'available' and j.run_time <= now())), 0)
         as oldest_available_seconds
from names n
left join baton.queues q on q.name = n.name
left join baton.jobs j on j.queue = n.name
group by n.name, q.name
order by n.name;

-- name: QueueNamesPage
-- A page of queue names in name order, after the keyset cursor $1 (a name; from the first when
-- null): at most $2 names, of queues with settings (by the primary key of baton.queues) or with
-- jobs. Each side stops at $2 names, so the page never holds more than that whatever the number
-- of queues. Jobs have no index on queue alone (every claim would write an entry in it), so
-- their side reads the table, as the counts of QueueStats do.
select name from (
  (select name from baton.queues where $1::text is null or name > $1 order by name limit $2)
  union
  (select distinct queue from baton.jobs where $1::text is null or queue > $1 order by queue limit $2)
) names
order by name
limit $2;

-- name: QueueSetPaused
-- Pauses or resumes a queue on every replica: baton_queues tells them, and a resume also
-- wakes the queue's claimers.
with changed as (
  insert into baton.queues (name, paused) values ($1, $2)
  on conflict (name) do update set paused = excluded.paused, update_time = now()
  returning *
),
notified as (
  select pg_notify('baton_queues', $1) union all
  select pg_notify('baton_jobs', $1) where not $2
)
select changed.*, (select count(*) from notified) as notified from changed;

-- name: QueueUpdateConfig
-- Sets the settings named in $2 (column names) to the values given and leaves the others; a
-- null value resets a setting to the broker's default. Tells every replica.
with changed as (
  insert into baton.queues (name, max_attempts, lease_duration, retry_base_delay, retry_max_delay, default_timeout, succeeded_retention, dead_retention, cancelled_retention, concurrency_limit, rate_limit, fairness_key_limit)
  values ($1,
    case when 'max_attempts' = any($2) then $3::int end,
    case when 'lease_duration' = any($2) then make_interval(secs => $4::float8) end,
    case when 'retry_base_delay' = any($2) then make_interval(secs => $5::float8) end,
    case when 'retry_max_delay' = any($2) then make_interval(secs => $6::float8) end,
    case when 'default_timeout' = any($2) then make_interval(secs => $7::float8) end,
    case when 'succeeded_retention' = any($2) then make_interval(secs => $8::float8) end,
    case when 'dead_retention' = any($2) then make_interval(secs => $9::float8) end,
    case when 'cancelled_retention' = any($2) then make_interval(secs => $10::float8) end,
    case when 'concurrency_limit' = any($2) then $11::int end,
    case when 'rate_limit' = any($2) then $12::float8 end,
    case when 'fairness_key_limit' = any($2) then $13::int end)
  on conflict (name) do update set
    max_attempts = case when 'max_attempts' = any($2) then excluded.max_attempts else baton.queues.max_attempts end,
    lease_duration = case when 'lease_duration' = any($2) then excluded.lease_duration else baton.queues.lease_duration end,
    retry_base_delay = case when 'retry_base_delay' = any($2) then excluded.retry_base_delay else baton.queues.retry_base_delay end,
    retry_max_delay = case when 'retry_max_delay' = any($2) then excluded.retry_max_delay else baton.queues.retry_max_delay end,
    default_timeout = case when 'default_timeout' = any($2) then excluded.default_timeout else baton.queues.default_timeout end,
    succeeded_retention = case when 'succeeded_retention' = any($2) then excluded.succeeded_retention else baton.queues.succeeded_retention end,
    dead_retention = case when 'dead_retention' = any($2) then excluded.dead_retention else baton.queues.dead_retention end,
    cancelled_retention = case when 'cancelled_retention' = any($2) then excluded.cancelled_retention else baton.queues.cancelled_retention end,
    concurrency_limit = case when 'concurrency_limit' = any($2) then excluded.concurrency_limit else baton.queues.concurrency_limit end,
    rate_limit = case when 'rate_limit' = any($2) then excluded.rate_limit else baton.queues.rate_limit end,
    fairness_key_limit = case when 'fairness_key_limit' = any($2) then excluded.fairness_key_limit else baton.queues.fairness_key_limit end,
    update_time = now()
  returning *
),
notified as (
  select pg_notify('baton_queues', $1) union all select pg_notify('baton_jobs', $1)
)
select changed.*, (select count(*) from notified) as notified from changed;
