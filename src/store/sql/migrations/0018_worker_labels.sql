-- Worker labels: a job's worker_labels route it to the worker streams whose hello.labels
-- contain every one of its key/value pairs. '{}' (no labels) is contained in every stream's
-- labels: an unlabelled job matches every stream.
-- A constant default adds the column without rewriting the table. Claims test containment
-- (worker_labels <@ the stream's labels) on the rows jobs_claim_idx finds: no index serves it,
-- since the claim's order (priority, run_time, id) is what the index must give.
alter table baton.jobs add column worker_labels jsonb not null default '{}';
-- Checked for the rows written from now on; every existing row holds the default, so
-- validating them would only cost a scan of the table.
alter table baton.jobs add constraint worker_labels_object check (jsonb_typeof(worker_labels) = 'object') not valid;

-- The labels of each open stream, for ListWorkers.
alter table baton.workers add column labels jsonb not null default '{}';
