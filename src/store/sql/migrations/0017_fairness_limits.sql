-- Per-tenant limits: a fairness key gets a rate limit of its own, next to its concurrency limit.
--
-- The concurrency limit per key is exposed as QueueConfig.fairness_concurrency_limit (and still
-- as its first name, fairness_key_limit); its column keeps the first name, so that replicas of
-- the previous release, which read it in every claim, keep working during a rolling upgrade.

alter table baton.queues
  -- Most jobs of one fairness key started per second, across replicas.
  add column fairness_rate_limit double precision,
  add constraint fairness_rate_limit_positive check (coalesce(fairness_rate_limit, 1) > 0);

-- The token bucket of each fairness key of a queue with a fairness_rate_limit: tokens left at
-- refill_time. Like the queue's bucket it holds at most one second of rate (at least one
-- token). A key whose bucket is full needs no row: the claim reads a missing row as a full
-- bucket, so the sweeper deletes the rows of buckets that have filled up again, and the table
-- holds only the keys that started jobs lately (within a second, or 1/rate seconds for rates
-- under one per second), not every tenant ever seen.
-- No foreign key to baton.queues: the sweeper also deletes the rows of a queue that dropped
-- its fairness_rate_limit.
create table baton.fairness_buckets (
  queue text not null,
  fairness_key text not null,
  tokens double precision not null,
  refill_time timestamptz not null,
  primary key (queue, fairness_key)
);
