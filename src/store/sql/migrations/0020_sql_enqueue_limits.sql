-- baton.enqueue() from SQL takes a fairness_key and worker_labels, as EnqueueJobRequest does, so
-- a job enqueued in the application's transaction meets its tenant's limits
-- (fairness_concurrency_limit, fairness_rate_limit) and reaches only the workers it needs.
-- Adding parameters changes the function's signature: the old one is dropped, not overloaded,
-- and every call that names its arguments (or passes the first seven by position) still works.

-- Worker labels as the broker accepts them (validateLabels in src/api/validate.ts): an object
-- of at most 16 labels, keys spelled as Kubernetes label keys, values strings of at most 63
-- bytes (jsonb holds no NUL). Checked by baton.enqueue only: the RPCs validate labels before they reach the table.
create function baton.worker_labels_valid(labels jsonb) returns boolean
language sql immutable parallel safe as $$
  select jsonb_typeof(labels) = 'object'
     and (select count(*) from jsonb_each(labels)) <= 16
     and coalesce((
       select bool_and(
         key ~ '^([a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$'
         and jsonb_typeof(value) = 'string' and octet_length(value #>> '{}') <= 63)
       from jsonb_each(labels)), true)
$$;

drop function baton.enqueue(text, bytea, jsonb, integer, timestamptz, integer, text);

create function baton.enqueue(
  queue text,
  payload bytea default '\x',
  headers jsonb default '{}',
  priority integer default 0,
  run_time timestamptz default null,
  max_attempts integer default null,
  dedup_key text default null,
  fairness_key text default null,
  worker_labels jsonb default '{}'
) returns bigint
language plpgsql as $$
-- Parameters share names with columns; in SQL below, a bare name means the column.
#variable_conflict use_column
declare
  new_id bigint := nextval(pg_get_serial_sequence('baton.jobs', 'id'));
  inserted_id bigint;
begin
  if enqueue.worker_labels is not null and not baton.worker_labels_valid(enqueue.worker_labels) then
    raise exception 'baton.enqueue: worker_labels must be an object of at most 16 labels, keys spelled as Kubernetes label keys (as "example.com/gpu"), values strings of at most 63 bytes; got %',
      left(enqueue.worker_labels::text, 200)
      using errcode = 'check_violation', constraint = 'worker_labels_valid';
  end if;
  insert into baton.jobs (id, queue, payload, headers, priority, run_time, max_attempts, dedup_key, chain_id,
                          fairness_key, worker_labels)
  values (
    new_id, enqueue.queue, coalesce(enqueue.payload, '\x'), coalesce(enqueue.headers, '{}'),
    coalesce(enqueue.priority, 0), coalesce(enqueue.run_time, now()),
    coalesce(enqueue.max_attempts, (select q.max_attempts from baton.queues q where q.name = enqueue.queue), 25),
    enqueue.dedup_key, new_id,
    -- As in EnqueueJobRequest, an empty fairness_key is none.
    nullif(enqueue.fairness_key, ''), coalesce(enqueue.worker_labels, '{}'))
  on conflict (queue, dedup_key) where dedup_key is not null and state in ('available', 'blocked', 'leased')
    do nothing
  returning id into inserted_id;
  if inserted_id is null then
    select j.id into inserted_id from baton.jobs j
    where j.queue = enqueue.queue and j.dedup_key = enqueue.dedup_key
      and j.state in ('available', 'blocked', 'leased');
    return inserted_id;
  end if;
  perform pg_notify('baton_jobs', enqueue.queue);
  return inserted_id;
end;
$$;
