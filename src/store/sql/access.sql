-- Lookups of the API's guards: which queue a request touches, and how deep a queue is.

-- name: JobQueues
-- The queues of the jobs a request names by id, for authorization: one probe of the primary key
-- per id, and not the whole rows (payloads can be big).
select id::text, queue from baton.jobs where id = any(@ids::bigint[]);

-- name: ScheduleQueue
select queue from baton.schedules where name = @name;

-- name: QueueDepths
-- Jobs waiting to run (available, including delayed and retrying) in each queue of @queues,
-- counted up to @cap: the guard only asks whether the limit is reached, so a deep queue costs
-- no more than the limit. Served by jobs_claim_idx.
select q.name,
       (select count(*) from (
          select 1 from baton.jobs j where j.queue = q.name and j.state = 'available' limit @cap
        ) waiting)::int as depth
from unnest(@queues::text[]) as q(name);
