-- Lookups of the API's guards: which queue a request touches, and how deep a queue is.

-- name: JobQueues
-- The queues of the jobs a request names by id, for authorization: one probe of the primary key
-- per id, and not the whole rows (payloads can be big).
select id::text, queue from baton.jobs where id = any($1::bigint[]);

-- name: ScheduleQueue
select queue from baton.schedules where name = $1;

-- name: QueueDepths
-- Jobs waiting to run (available, including delayed and retrying) in each queue of $1,
-- counted up to $2: the guard only asks whether the limit is reached, so a deep queue costs
-- no more than the limit. Served by jobs_claim_idx.
select q.name,
       (select count(*) from (
          select 1 from baton.jobs j where j.queue = q.name and j.state = 'available' limit $2
        ) waiting)::int as depth
from unnest($1::text[]) as q(name);
