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
