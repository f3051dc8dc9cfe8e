-- Queries of the workers table: the open worker streams of every replica.

-- name: WorkerUpsertMany
-- Records this replica's open streams and forgets its closed ones, in one statement; rows of
-- replicas silent for $9 seconds are dropped too.
with upserted as (
  insert into baton.workers (session_id, worker_id, queues, in_flight, max_in_flight, connect_time, last_seen_time, replica)
  select s.session_id, s.worker_id, array(select jsonb_array_elements_text(s.queues)), s.in_flight, s.max_in_flight,
         s.connect_time, s.last_seen_time, $8
  from unnest($1::text[], $2::text[], $3::jsonb[], $4::int[], $5::int[], $6::timestamptz[], $7::timestamptz[])
    as s(session_id, worker_id, queues, in_flight, max_in_flight, connect_time, last_seen_time)
  on conflict (session_id) do update set
    in_flight = excluded.in_flight, last_seen_time = excluded.last_seen_time
  returning session_id
)
delete from baton.workers w
where (w.replica = $8 and w.session_id <> all($1::text[]))
   or w.last_seen_time < now() - make_interval(secs => $9::float8);

-- name: WorkerDelete
delete from baton.workers where session_id = $1;

-- name: WorkerList
-- Streams heard from within $2 seconds, on every replica.
select * from baton.workers
where ($1::text is null or $1 = any(queues)) and last_seen_time > now() - make_interval(secs => $2::float8)
order by connect_time, session_id;
