-- Fewer index entries per job. A claim or a settlement changes `state`, which the partial
-- indexes' predicates name, so PostgreSQL cannot update the row in place (HOT): every claim,
-- ack and nack writes a new row version plus one entry in each index whose predicate the new
-- version matches. Measured for batches of 1,000 (bench/statements.ts), each index below cost
-- 1-4 ms per statement.

-- The reaper reads expired leases and overdue attempts from the leased rows, which
-- jobs_leased_queue_idx already lists (a replica holds thousands, not millions), instead of
-- every claim writing two more index entries.
drop index baton.jobs_lease_expire_idx;
drop index baton.jobs_attempt_deadline_idx;

-- A chain is its root (id = chain_id, reached by primary key) plus the jobs that joined it.
-- Most jobs are roots of their own one-job chain; indexing only the others keeps the chain
-- lookups indexed without an entry for every version of every job.
drop index baton.jobs_chain_idx;
create index jobs_chain_idx on baton.jobs (chain_id, id) where chain_id <> id;

-- Serves the dedup_window check of JobInsertMany: finished jobs by (queue, dedup_key). Only
-- jobs with a dedup_key pay for it. Without it, that check scanned the whole table, and the
-- estimated cost of that scan made PostgreSQL re-plan every single-job enqueue (its generic
-- plan looked too expensive to reuse): about 0.6 ms per call.
create index jobs_dedup_finished_idx on baton.jobs (queue, dedup_key, finish_time)
  where dedup_key is not null and state in ('succeeded', 'dead', 'cancelled');
