-- Queries of the fairness_buckets table, the token buckets of QueueConfig.fairness_rate_limit.
-- JobClaimLimited (jobs.sql) reads and spends them as it claims.

-- name: FairnessBucketDeleteUnneeded
-- Deletes up to @limit bucket rows that nothing needs: buckets full again by @now (a missing row
-- reads as a full bucket, so the row says nothing more), and those of a queue without a
-- fairness_rate_limit now. Rows that a claim is writing are skipped; it may have just spent them.
-- Reads the whole table, which this keeps to the keys that started jobs lately (within a second,
-- or 1/rate seconds for rates under one per second).
with unneeded as (
  select b.queue, b.fairness_key
  from baton.fairness_buckets b
  left join baton.queues q on q.name = b.queue
  where q.fairness_rate_limit is null
     or b.tokens + q.fairness_rate_limit * extract(epoch from coalesce(@now::timestamptz, now()) - b.refill_time)
          >= greatest(q.fairness_rate_limit, 1)
  limit @limit
  for update of b skip locked
)
delete from baton.fairness_buckets b
using unneeded u
where b.queue = u.queue and b.fairness_key = u.fairness_key;
