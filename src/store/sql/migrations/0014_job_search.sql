-- Job search (ListJobs' filter, and the bulk operations that take the same filter): headers
-- are searchable by exact value, and create_time by range, through indexes rather than a
-- walk of the whole table. jsonb_path_ops answers only containment (@>), which is the one
-- question a filter asks of headers, and is smaller and faster to update than the default
-- operator class. Both indexes cost every enqueue one more index entry each.
create index jobs_headers_idx on baton.jobs using gin (headers jsonb_path_ops);
create index jobs_create_time_idx on baton.jobs (create_time);
