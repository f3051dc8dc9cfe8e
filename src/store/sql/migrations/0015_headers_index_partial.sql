-- The header search index covers only jobs that have headers: an enqueue without headers (the
-- common case, since a job's traceparent is kept in its own columns) no longer writes a GIN
-- entry. A search by headers asks for at least one header, so it can only match such jobs;
-- JobMatches states that (headers <> '{}') so the planner can prove this index applies.
drop index baton.jobs_headers_idx;
create index jobs_headers_idx on baton.jobs using gin (headers jsonb_path_ops) where headers <> '{}'::jsonb;
