-- Queries of the queues table. A queue needs no row to be used; these create one on first
-- change.

-- name: QueueListSettings
-- What the dispatcher and lease keeper need of every configured queue.
select name, paused,
       concurrency_limit is not null or rate_limit is not null or fairness_key_limit is not null
         or fairness_rate_limit is not null as limited,
       rate_limit, fairness_rate_limit, extract(epoch from lease_duration) as lease_seconds
from baton.queues;

-- name: QueueStats
-- The queues named in @names that have jobs or settings, in name order: their settings (null
-- columns when the queue has no row), jobs per state and the age of the oldest due available
-- job. One statement for a whole page of ListQueues.
with names as (
  select name from baton.queues where name = any(@names::text[])
  union
  select distinct queue from baton.jobs where queue = any(@names::text[])
)
select n.name, q.paused, q.max_attempts, q.lease_duration, q.retry_base_delay, q.retry_max_delay, q.default_timeout,
       q.succeeded_retention, q.dead_retention, q.cancelled_retention, q.concurrency_limit, q.rate_limit, q.fairness_key_limit,
       q.fairness_rate_limit,
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
-- A page of queue names in name order, after the keyset cursor @afterName (a name; from the first when
-- null): at most @limit names, of queues with settings (by the primary key of baton.queues) or with
-- jobs. Each side stops at @limit names, so the page never holds more than that whatever the number
-- of queues. Jobs have no index on queue alone (every claim would write an entry in it), so
-- their side reads the table, as the counts of QueueStats do.
select name from (
  (select name from baton.queues where @afterName::text is null or name > @afterName order by name limit @limit)
  union
  (select distinct queue from baton.jobs where @afterName::text is null or queue > @afterName order by queue limit @limit)
) names
order by name
limit @limit;

-- name: QueueSetPaused
-- Pauses or resumes a queue on every replica: baton_queues tells them, and a resume also
-- wakes the queue's claimers.
with changed as (
  insert into baton.queues (name, paused) values (@name, @paused)
  on conflict (name) do update set paused = excluded.paused, update_time = now()
  returning name
),
notified as (
  select pg_notify('baton_queues', @name) union all
  select pg_notify('baton_jobs', @name) where not @paused
)
select changed.*, (select count(*) from notified) as notified from changed;

-- name: QueueUpdateConfig
-- Sets the settings named in @columns (column names) to the values given and leaves the others; a
-- null value resets a setting to the broker's default. Tells every replica.
with changed as (
  insert into baton.queues (name, max_attempts, lease_duration, retry_base_delay, retry_max_delay, default_timeout, succeeded_retention, dead_retention, cancelled_retention, concurrency_limit, rate_limit, fairness_key_limit, fairness_rate_limit)
  values (@name,
    case when 'max_attempts' = any(@columns) then @maxAttempts::int end,
    case when 'lease_duration' = any(@columns) then make_interval(secs => @leaseSeconds::float8) end,
    case when 'retry_base_delay' = any(@columns) then make_interval(secs => @retryBaseSeconds::float8) end,
    case when 'retry_max_delay' = any(@columns) then make_interval(secs => @retryMaxSeconds::float8) end,
    case when 'default_timeout' = any(@columns) then make_interval(secs => @defaultTimeoutSeconds::float8) end,
    case when 'succeeded_retention' = any(@columns) then make_interval(secs => @succeededRetentionSeconds::float8) end,
    case when 'dead_retention' = any(@columns) then make_interval(secs => @deadRetentionSeconds::float8) end,
    case when 'cancelled_retention' = any(@columns) then make_interval(secs => @cancelledRetentionSeconds::float8) end,
    case when 'concurrency_limit' = any(@columns) then @concurrencyLimit::int end,
    case when 'rate_limit' = any(@columns) then @rateLimit::float8 end,
    case when 'fairness_key_limit' = any(@columns) then @fairnessConcurrencyLimit::int end,
    case when 'fairness_rate_limit' = any(@columns) then @fairnessRateLimit::float8 end)
  on conflict (name) do update set
    max_attempts = case when 'max_attempts' = any(@columns) then excluded.max_attempts else baton.queues.max_attempts end,
    lease_duration = case when 'lease_duration' = any(@columns) then excluded.lease_duration else baton.queues.lease_duration end,
    retry_base_delay = case when 'retry_base_delay' = any(@columns) then excluded.retry_base_delay else baton.queues.retry_base_delay end,
    retry_max_delay = case when 'retry_max_delay' = any(@columns) then excluded.retry_max_delay else baton.queues.retry_max_delay end,
    default_timeout = case when 'default_timeout' = any(@columns) then excluded.default_timeout else baton.queues.default_timeout end,
    succeeded_retention = case when 'succeeded_retention' = any(@columns) then excluded.succeeded_retention else baton.queues.succeeded_retention end,
    dead_retention = case when 'dead_retention' = any(@columns) then excluded.dead_retention else baton.queues.dead_retention end,
    cancelled_retention = case when 'cancelled_retention' = any(@columns) then excluded.cancelled_retention else baton.queues.cancelled_retention end,
    concurrency_limit = case when 'concurrency_limit' = any(@columns) then excluded.concurrency_limit else baton.queues.concurrency_limit end,
    rate_limit = case when 'rate_limit' = any(@columns) then excluded.rate_limit else baton.queues.rate_limit end,
    fairness_key_limit = case when 'fairness_key_limit' = any(@columns) then excluded.fairness_key_limit else baton.queues.fairness_key_limit end,
    fairness_rate_limit = case when 'fairness_rate_limit' = any(@columns) then excluded.fairness_rate_limit else baton.queues.fairness_rate_limit end,
    update_time = now()
  returning name
),
notified as (
  select pg_notify('baton_queues', @name) union all select pg_notify('baton_jobs', @name)
)
select changed.*, (select count(*) from notified) as notified from changed;
