-- Throughput and failure history per queue and minute (QueueService.GetQueueHistory, the
-- dashboard's charts). No job's path writes here: every replica counts what its own
-- statements settle in memory and adds its counts every few seconds in one upsert, so a busy
-- queue costs one row update per replica and flush, not one per job. Rows are kept for
-- BATON_HISTORY_RETENTION_SECONDS and swept by the retention task.
create table baton.queue_history (
  queue text not null,
  -- The minute the counts were added in (database time, truncated to the minute).
  bucket timestamptz not null,
  enqueued bigint not null default 0,
  succeeded bigint not null default 0,
  -- Failed attempts that went back to the queue for another try.
  retried bigint not null default 0,
  dead bigint not null default 0,
  cancelled bigint not null default 0,
  primary key (queue, bucket)
);

-- The history of all queues together, and the retention sweep, read by time.
create index queue_history_bucket_idx on baton.queue_history (bucket);
