-- Queries of the workers table: the open worker streams of every replica.

-- name: WorkerUpsertMany
-- Records this replica's open streams and forgets its closed ones, in one statement; rows of
-- replicas silent for @staleSeconds seconds are dropped too.
with upserted as (
  insert into baton.workers (session_id, worker_id, queues, labels, in_flight, max_in_flight, connect_time, last_seen_time, replica)
  select s.session_id, s.worker_id, array(select jsonb_array_elements_text(s.queues)), s.labels, s.in_flight, s.max_in_flight,
         s.connect_time, s.last_seen_time, @replica
  from unnest(@sessionIds::text[], @workerIds::text[], @queues::jsonb[], @labels::jsonb[], @inFlights::int[], @maxInFlights::int[], @connectTimes::timestamptz[], @lastSeenTimes::timestamptz[])
    as s(session_id, worker_id, queues, labels, in_flight, max_in_flight, connect_time, last_seen_time)
  on conflict (session_id) do update set
    in_flight = excluded.in_flight, last_seen_time = excluded.last_seen_time
  returning session_id
)
delete from baton.workers w
where (w.replica = @replica and w.session_id <> all(@sessionIds::text[]))
   or w.last_seen_time < now() - make_interval(secs => @staleSeconds::float8);

-- name: WorkerDelete
delete from baton.workers where session_id = @sessionId;

-- name: WorkerList
-- Streams heard from within @staleSeconds seconds, on every replica.
select session_id, worker_id, queues, labels, in_flight, max_in_flight, connect_time, last_seen_time, replica
from baton.workers
where (@queue::text is null or @queue = any(queues)) and last_seen_time > now() - make_interval(secs => @staleSeconds::float8)
order by connect_time, session_id;
