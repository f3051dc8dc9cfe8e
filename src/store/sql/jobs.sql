-- Queries of the jobs table. Each block starts with "-- name: <name>" and becomes a named
-- prepared statement. @now, where a statement takes it, is NULL in production (database time)
-- and a fixed instant in tests.

-- name: JobInsertMany
-- Inserts a batch in input order and wakes the queues in the same statement. Ids are drawn
-- in input order so that the caller can match rows to requests; a row skipped by dedup_key
-- (an unfinished job holds it, or one finished within the request's dedup window) is absent
-- from the output. Root jobs are their own chain; a continuation joins its parent's.
-- max_attempts falls back to the queue's setting, then to @defaultMaxAttempts. Jobs flagged blocked (@blocked) wait
-- for the blockers in @dependsOn (comma-joined ids); the caller writes their dependency rows in the
-- same transaction.
-- Hand-off: a job flagged in @handoff is inserted already leased to this replica (@handoffOwner, lease of
-- the queue's duration else @handoffLeaseSeconds seconds), for a worker stream that is waiting for work: it
-- skips the wakeup and the claim. Only a job that could be claimed at once qualifies (due now,
-- not blocked, no dedup_key, its queue neither paused nor limited); the others are inserted
-- available, whatever the flag, and woken as usual.
-- Columns that no job of the batch sets arrive as a NULL array, which unnest pads with NULLs:
-- parsing 1,000 NULL elements per column cost more than the insert of some columns.
-- A continuation's chain is looked up through a function that always reads the primary key,
-- whatever this statement's plan (see migration 0009_claim_plans).
-- Returns only what the request does not know: not the payload and headers it sent, nor the
-- columns every new job starts with (see jobInsertMany); parsing them back cost about a tenth
-- of the statement's time for a batch of 1,000. trace_id: a hand-off's delivery traceparent.
with input as (
  -- The sequence by name, not pg_get_serial_sequence(): that is a catalog lookup per row.
  select nextval('baton.jobs_id_seq'::regclass) as id, t.*
  from unnest(
    @queues::text[], @payloads::bytea[], @headers::jsonb[], @priorities::int[], @delaySeconds::float8[], @runTimes::timestamptz[],
    @maxAttempts::int[], @dedupKeys::text[], @chainIds::bigint[], @parentIds::bigint[], @timeoutSeconds::float8[], @dedupWindowSeconds::float8[], @fairnessKeys::text[],
    @blocked::bool[], @dependsOn::text[], @handoff::bool[]
  ) with ordinality as t(queue, payload, headers, priority, delay_seconds, run_time,
                        max_attempts, dedup_key, chain_id, parent_id, timeout_seconds,
                        dedup_window_seconds, fairness_key, blocked, depends_on, handoff, ord)
  order by t.ord
),
clock as (select coalesce(@now::timestamptz, now()) as now),
prepared as (
  select i.*, q.max_attempts as queue_max_attempts, q.default_timeout, q.lease_duration,
         coalesce(i.run_time, clock.now + make_interval(secs => coalesce(i.delay_seconds, 0))) as due_time,
         coalesce(i.handoff, false) and not coalesce(i.blocked, false) and i.dedup_key is null
           and coalesce(i.run_time, clock.now + make_interval(secs => coalesce(i.delay_seconds, 0))) <= clock.now
           and not coalesce(q.paused, false)
           and q.concurrency_limit is null and q.rate_limit is null and q.fairness_key_limit is null as leased
  from input i
  cross join clock
  left join baton.queues q on q.name = i.queue
),
inserted as (
  insert into baton.jobs (id, queue, payload, headers, priority, run_time, max_attempts,
                          dedup_key, chain_id, parent_id, timeout, fairness_key, state, depends_on,
                          attempt, lease_token, lease_expire_time, lease_owner, attempt_start_time,
                          attempt_deadline)
  select p.id, p.queue, p.payload, p.headers, p.priority, p.due_time,
         coalesce(p.max_attempts, p.queue_max_attempts, @defaultMaxAttempts::int), p.dedup_key,
         coalesce(p.chain_id, baton.chain_of(p.parent_id), p.id), p.parent_id,
         make_interval(secs => p.timeout_seconds), p.fairness_key,
         case when p.blocked then 'blocked'::baton.job_state when p.leased then 'leased' else 'available' end,
         coalesce(string_to_array(p.depends_on, ',')::bigint[], '{}'),
         case when p.leased then 1 else 0 end,
         case when p.leased then gen_random_uuid() end,
         case when p.leased then clock.now + coalesce(p.lease_duration, make_interval(secs => @handoffLeaseSeconds::float8)) end,
         case when p.leased then @handoffOwner::text end,
         case when p.leased then clock.now end,
         case when p.leased then clock.now + coalesce(make_interval(secs => p.timeout_seconds), p.default_timeout) end
  from prepared p
  cross join clock
  where p.dedup_window_seconds is null or not exists (
    select 1 from baton.jobs f
    where f.queue = p.queue and f.dedup_key = p.dedup_key and f.state in ('succeeded', 'dead', 'cancelled')
      and f.finish_time > clock.now - make_interval(secs => p.dedup_window_seconds))
  order by p.ord
  on conflict (queue, dedup_key)
    where dedup_key is not null and state in ('available', 'blocked', 'leased')
    do nothing
  returning id, queue, state, priority, attempt, max_attempts, run_time, create_time, dedup_key, chain_id, parent_id,
            depends_on, extract(epoch from timeout)::float8 as timeout_seconds, lease_token, lease_expire_time, lease_owner, fairness_key, attempt_deadline, trace_id,
            -- A hand-off's queue wait (metrics) and its traceparent's sampled flag.
            attempt_start_time, trace_sampled
),
-- One notification per queue with claimable jobs (Postgres also folds identical ones within a
-- transaction); handed-off jobs need none.
woken as (
  select pg_notify('baton_jobs', queue) from (select distinct queue from inserted where state = 'available') q
)
select inserted.*, (inserted.run_time > (select now from clock)) as scheduled,
       (select count(*) from woken) as woken_queues
from inserted
order by inserted.id;

-- name: JobUpsertMany
-- JobInsertMany for the requests of a batch whose dedup policy is REPLACE or DEBOUNCE (see
-- jobInsertMany): one request per (queue, dedup_key), which the caller folded from the batch's
-- requests with that key. Where no job holds the key, it inserts as JobInsertMany does. Where
-- one holds it while it waits (AVAILABLE, SCHEDULED or BLOCKED), that job takes the request's
-- run time, and its payload where @replacePayload is set (REPLACE); its other columns stay, its
-- headers among them, whose traceparent made the job's trace. A running (LEASED) job is left as
-- it was and is absent from the output. No dedup window is checked here: a job this inserts
-- while one with its key finished within the window is taken back by JobDedupWindowRaced (see
-- jobInsertMany), as for a KEEP insert that raced an ack, and the finished job is not altered.
-- Checking the window before the insert would read the holder in this statement's snapshot,
-- and miss one that a concurrent enqueue committed meanwhile, which must be replaced.
-- Concurrent upserts of one key queue on the row lock of its holder, each updating the version
-- the previous one committed: the last to commit wins. The holders (as this statement's snapshot
-- sees them) are locked in id order, as by every statement that locks several jobs (settlements,
-- renewals), so that none of them deadlocks with this one; keys without a holder follow in
-- (queue, dedup_key) order.
-- Returns whole jobs (a waiting job keeps columns the request does not know); created tells a
-- new job from one that held the key.
with input as (
  select nextval('baton.jobs_id_seq'::regclass) as id, t.*
  from unnest(
    @queues::text[], @payloads::bytea[], @headers::jsonb[], @priorities::int[], @delaySeconds::float8[], @runTimes::timestamptz[],
    @maxAttempts::int[], @dedupKeys::text[], @chainIds::bigint[], @parentIds::bigint[], @timeoutSeconds::float8[], @fairnessKeys::text[],
    @blocked::bool[], @dependsOn::text[], @replacePayload::bool[]
  ) as t(queue, payload, headers, priority, delay_seconds, run_time, max_attempts, dedup_key, chain_id, parent_id,
         timeout_seconds, fairness_key, blocked, depends_on, replace_payload)
),
clock as (select coalesce(@now::timestamptz, now()) as now),
upserted as (
  insert into baton.jobs as j (id, queue, payload, headers, priority, run_time, max_attempts, dedup_key, chain_id,
                               parent_id, timeout, fairness_key, state, depends_on)
  select i.id, i.queue, i.payload, i.headers, i.priority,
         coalesce(i.run_time, clock.now + make_interval(secs => coalesce(i.delay_seconds, 0))),
         coalesce(i.max_attempts, q.max_attempts, @defaultMaxAttempts::int), i.dedup_key,
         coalesce(i.chain_id, baton.chain_of(i.parent_id), i.id), i.parent_id,
         make_interval(secs => i.timeout_seconds), i.fairness_key,
         case when i.blocked then 'blocked'::baton.job_state else 'available' end,
         coalesce(string_to_array(i.depends_on, ',')::bigint[], '{}')
  from input i
  cross join clock
  left join baton.queues q on q.name = i.queue
  order by (select u.id from baton.jobs u
            where u.queue = i.queue and u.dedup_key = i.dedup_key and u.state in ('available', 'blocked', 'leased')),
           i.queue, i.dedup_key
  on conflict (queue, dedup_key)
    where dedup_key is not null and state in ('available', 'blocked', 'leased')
    do update set
      run_time = excluded.run_time,
      payload = case when (select i.replace_payload from input i where i.id = excluded.id) then excluded.payload else j.payload end
    -- PostgreSQL locks a conflicting row whatever this says: a running job stays locked, not
    -- altered, until the enqueue commits.
    where j.state in ('available', 'blocked')
  returning {{JobColumns}}
),
woken as (
  select pg_notify('baton_jobs', queue) from (select distinct queue from upserted where state = 'available') q
)
select u.*, u.id = i.id as created, (u.state = 'available' and u.run_time > (select now from clock)) as scheduled,
       (select count(*) from woken) as woken_queues
from upserted u
join input i on i.queue = u.queue and i.dedup_key = u.dedup_key;

-- name: JobDedupWindowRaced
-- Of the jobs @ids just inserted with a dedup window (@windowSeconds seconds each), those that another job
-- with the same (queue, dedup_key) made redundant while the insert ran: one unfinished, or one
-- finished within the window, and that job (the newest such). Runs as the next statement of the
-- insert's transaction, so its snapshot includes an ack that committed while the insert waited
-- on that job's row; the insert's own window check could not see it (see jobInsertMany).
-- Unfinished and finished jobs are looked up apart, each through its own partial index: one
-- lookup over both states matched neither index and read the whole table for every job.
-- The window ends at @now (the insert's now), else at the database's now.
with clock as (select coalesce(@now::timestamptz, now()) as now)
select mine.id as raced_id, {{JobColumns}}, (j.state = 'available' and j.run_time > clock.now) as scheduled
from unnest(@ids::bigint[], @windowSeconds::float8[]) as n(id, window_seconds)
cross join clock
join baton.jobs mine on mine.id = n.id
cross join lateral (
  select c.* from (
    (select j.* from baton.jobs j
     where j.queue = mine.queue and j.dedup_key = mine.dedup_key and j.id <> mine.id
       and j.state in ('available', 'blocked', 'leased')
     limit 1)
    union all
    (select j.* from baton.jobs j
     where j.queue = mine.queue and j.dedup_key = mine.dedup_key
       and j.state in ('succeeded', 'dead', 'cancelled') and j.finish_time > clock.now - make_interval(secs => n.window_seconds)
     order by j.id desc
     limit 1)
  ) c
  order by c.id desc
  limit 1
) j;

-- name: JobDedupWindowUndo
-- Takes back the inserts that lost that race, inside their transaction: the rows and their
-- send spans (the broker counts them as deduplicated, not created).
with gone as (
  delete from baton.jobs where id = any(@ids::bigint[]) returning id
),
spans as (
  delete from baton.span_outbox s using gone where s.job_id = gone.id
)
select count(*)::int as undone from gone;

-- name: JobLockBlockers
-- The would-be blockers of new jobs, locked against state changes until the enqueue commits,
-- so none can finish between this check and the dependency rows being written.
select id, state from baton.jobs where id = any(@ids::bigint[]) for share;

-- name: JobDependencyInsertMany
insert into baton.job_dependencies (job_id, blocker_id)
select * from unnest(@jobIds::bigint[], @blockerIds::bigint[]);

-- name: JobChainUnfinished
-- The chains among @chainIds that still have a job not finished. A chain is its root (id = chain_id,
-- found by primary key) and the jobs that joined it (jobs_chain_idx holds only those).
select distinct chain_id from baton.jobs
where (id = any(@chainIds::bigint[]) or (chain_id = any(@chainIds::bigint[]) and chain_id <> id))
  and chain_id = any(@chainIds::bigint[]) and state not in ('succeeded', 'dead', 'cancelled');

-- name: JobGetUnfinishedByDedupKey
-- The jobs that deduplicated requests resolved to: the unfinished job that holds the key, else
-- the newest finished one (a dedup window). Each is looked up through its partial index.
select {{JobColumns}}, (j.state = 'available' and j.run_time > now()) as scheduled
from unnest(@queues::text[], @dedupKeys::text[]) as k(queue, dedup_key)
cross join lateral (
  select c.* from (
    (select u.* from baton.jobs u
     where u.queue = k.queue and u.dedup_key = k.dedup_key and u.state in ('available', 'blocked', 'leased')
     limit 1)
    union all
    (select f.* from baton.jobs f
     where f.queue = k.queue and f.dedup_key = k.dedup_key and f.state in ('succeeded', 'dead', 'cancelled')
     order by f.id desc
     limit 1)
  ) c
  order by (c.state in ('available', 'blocked', 'leased')) desc
  limit 1
) j;

-- name: JobGet
select {{JobColumns}}, (j.state = 'available' and j.run_time > coalesce(@now::timestamptz, now())) as scheduled
from baton.jobs j where j.id = @id;

-- fragment: JobColumns
-- A whole job, as JobRow reads it (src/store/job-row.ts), of the row the statement names j.
j.id, j.queue, j.state, j.payload, j.headers, j.priority, j.attempt, j.max_attempts, j.run_time,
j.create_time, j.finish_time, j.dedup_key, j.chain_id, j.parent_id, j.depends_on,
extract(epoch from j.timeout)::float8 as timeout_seconds, j.lease_token, j.lease_expire_time,
j.lease_owner, j.progress_percent, j.progress_message, j.result, j.last_error, j.errors,
j.cancel_requested, j.fairness_key, j.attempt_deadline, j.attempt_start_time, j.trace_id, j.trace_sampled

-- fragment: ClaimedColumns
-- What a claim returns of each job it leased (j, at database time clock.now): only what a
-- delivery and its lease need (see ClaimedJob), the traceparent included. Its span id is a
-- hash the database computes faster than the broker, and every other column parsed per job
-- cost the broker more than the rest of the delivery.
j.id, j.queue, j.payload, j.headers, j.priority, j.attempt, j.max_attempts, j.chain_id, j.parent_id,
extract(epoch from j.timeout)::float8 as timeout_seconds, j.lease_token, j.lease_expire_time,
j.attempt_deadline, j.run_time,
-- For the queue-wait histogram (src/telemetry/job-metrics.ts).
greatest(extract(epoch from clock.now - j.run_time), 0)::float8 as queue_wait_seconds,
-- Flags 00 for an unsampled trace: the worker records no spans of it either.
'00-' || replace(baton.job_trace_id(j.trace_id, j.chain_id)::text, '-', '') || '-'
  || baton.process_span_id(j.id, j.attempt, jsonb_array_length(j.errors))
  || case when j.trace_sampled then '-01' else '-00' end as traceparent,
-- A dependant's blockers and their results (JobDelivery.depends_on_results), at most
-- @dependsOnResultBytes bytes of them: in the claim's round trip, and NULL without a lookup for
-- the jobs that depend on nothing.
case when cardinality(j.depends_on) > 0 then j.depends_on end as depends_on,
case when cardinality(j.depends_on) > 0 then baton.depends_on_results(j.depends_on, @dependsOnResultBytes::bigint) end as depends_on_results

-- name: JobClaim
-- Leases up to @limit due jobs of the queues @queues (the queues of one or more worker streams) to this
-- replica, skipping rows that other replicas are claiming; nothing from a paused queue. Across
-- the queues, priority comes first; among equal priorities the queues take turns (each queue's
-- n-th job comes after every queue's (n-1)-th), starting with the queue at position @first, so that
-- the caller can rotate the start and no queue of a stream starves behind another's backlog.
-- Each queue gives at most @limit candidates, locked as its own index scan finds them (one queue:
-- the plain claim); the candidates not chosen stay locked until the transaction ends, so this
-- runs in a transaction of its own (autocommit). The lease lasts the queue's lease_duration
-- (else @leaseSeconds seconds) and the attempt must end by its timeout (the job's, else the queue's
-- default). Also reports when the next not-yet-due job of these
-- queues is due, so the dispatcher can arm a timer instead of polling. For queues without
-- limits: a queue that has one claims nothing here, whatever the caller believed; see
-- JobClaimLimited.
with clock as (select coalesce(@now::timestamptz, now()) as now),
settings as (
  select s.queue, s.ord,
         coalesce(extract(epoch from q.lease_duration), @leaseSeconds::float8) as lease_seconds,
         q.default_timeout,
         coalesce(q.paused, false) as paused,
         coalesce(q.concurrency_limit is not null or q.rate_limit is not null or q.fairness_key_limit is not null, false)
           as limited
  from unnest(@queues::text[]) with ordinality as s(queue, ord)
  left join baton.queues q on q.name = s.queue
),
candidates as (
  select c.id, c.priority, c.run_time, s.ord,
         row_number() over (partition by s.ord order by c.priority, c.run_time, c.id) as turn
  from settings s
  cross join lateral (
    select j.id, j.priority, j.run_time from baton.jobs j, clock
    where j.queue = s.queue and j.state = 'available' and j.run_time <= clock.now
    order by j.priority, j.run_time, j.id
    limit @limit
    for update of j skip locked
  ) c
  where not s.paused and not s.limited
),
due as (
  select c.id, c.ord from candidates c
  order by c.priority, c.turn, (c.ord - 1 + cardinality(@queues::text[]) - @first::int) % cardinality(@queues::text[]), c.run_time, c.id
  limit @limit
),
claimed as (
  update baton.jobs j
  set state = 'leased',
      attempt = j.attempt + 1,
      lease_token = gen_random_uuid(),
      lease_expire_time = clock.now + make_interval(secs => s.lease_seconds),
      attempt_deadline = clock.now + coalesce(j.timeout, s.default_timeout),
      attempt_start_time = clock.now,
      lease_owner = @owner
  from due
  join settings s on s.ord = due.ord
  cross join clock
  where j.id = due.id
  returning {{ClaimedColumns}}
),
-- Materialized, so that it runs once and not once per claimed row.
next_due as materialized (
  select baton.next_due_time(@queues::text[], (select now from clock)) as next_due_time
)
-- Exactly one row with a null id when nothing was claimed, so next_due_time always arrives.
-- queue_limited tells a dispatcher whose settings were stale to claim through JobClaimLimited.
select claimed.*, next.next_due_time, (select bool_or(limited) from settings) as queue_limited
from next_due next
left join claimed on true;

-- name: JobClaimLockQueue
-- Serialises the claims of one limited queue across replicas until the transaction ends, so
-- the next statement counts running jobs and rate tokens without a race.
select pg_advisory_xact_lock(hashtextextended('baton.queue:' || @queue::text, 0));

-- name: JobClaimLimited
-- Like JobClaim, for a queue with a concurrency limit, a rate limit or a fairness-key limit;
-- runs under JobClaimLockQueue. The batch is cut to the free concurrency and to the rate
-- tokens (a bucket holding at most one second of rate, refilled by database time). With a
-- fairness-key limit, keys take turns: each key's n-th job comes after every key's (n-1)-th,
-- and no key exceeds its limit. Candidates are the first 10,000 due jobs in claim order.
with q as (
  select * from baton.queues where name = @queue
),
clock as (select coalesce(@now::timestamptz, now()) as now),
tokens as (
  select least(greatest(q.rate_limit, 1), q.rate_tokens + q.rate_limit *
           extract(epoch from clock.now - coalesce(q.rate_refill_time, clock.now - interval '1 second'))) as available
  from q, clock where q.rate_limit is not null
),
budget as (
  select greatest(0, least(
    @limit::int,
    coalesce(q.concurrency_limit - (select count(*) from baton.jobs where queue = @queue and state = 'leased'), @limit::int),
    coalesce(floor((select available from tokens))::int, @limit::int)
  )) as n
  from q
  where not q.paused
),
running_per_key as (
  select fairness_key, count(*) as running
  from baton.jobs where queue = @queue and state = 'leased' and fairness_key is not null
  group by fairness_key
),
candidates as (
  select c.id, c.priority, c.run_time, c.fairness_key,
         row_number() over (partition by c.fairness_key order by c.priority, c.run_time, c.id) as turn
  from (
    select id, priority, run_time, fairness_key from baton.jobs, clock
    where queue = @queue and state = 'available' and run_time <= clock.now
    order by priority, run_time, id
    limit 10000
  ) c
),
eligible as (
  select c.id from candidates c
  left join running_per_key r on r.fairness_key = c.fairness_key
  cross join q
  where q.fairness_key_limit is null or c.fairness_key is null
     or c.turn + coalesce(r.running, 0) <= q.fairness_key_limit
  order by case when q.fairness_key_limit is null then 1 else c.turn end, c.priority, c.run_time, c.id
  limit (select n from budget)
),
due as (
  select j.id from baton.jobs j join eligible e on e.id = j.id
  where j.state = 'available'
  for update of j skip locked
),
claimed as (
  update baton.jobs j
  set state = 'leased',
      attempt = j.attempt + 1,
      lease_token = gen_random_uuid(),
      lease_expire_time = clock.now + coalesce(q.lease_duration, make_interval(secs => @leaseSeconds::float8)),
      attempt_deadline = clock.now + coalesce(j.timeout, q.default_timeout),
      attempt_start_time = clock.now,
      lease_owner = @owner
  from due, q, clock
  where j.id = due.id
  returning {{ClaimedColumns}}
),
spent as (
  update baton.queues set rate_tokens = tokens.available - (select count(*) from claimed), rate_refill_time = clock.now
  from tokens, clock
  where name = @queue
  returning 1
),
-- Materialized, so that it runs once and not once per claimed row.
next_due as materialized (
  select baton.next_due_time(array[@queue::text], (select now from clock)) as next_due_time
)
select claimed.*, next.next_due_time, (select count(*) from spent) as rate_updated
from next_due next
left join claimed on true;

-- name: JobUnclaim
-- Returns jobs that were claimed but could not be delivered (their stream closed meanwhile):
-- the attempt never started, so it is not counted.
update baton.jobs j
set state = 'available', attempt = j.attempt - 1,
    lease_token = null, lease_expire_time = null, lease_owner = null, attempt_deadline = null
from unnest(@ids::bigint[], @leaseTokens::uuid[]) as l(id, lease_token)
where j.id = l.id and j.lease_token = l.lease_token and j.state = 'leased'
returning j.queue;

-- name: JobAckMany
-- Settles attempts as succeeded. Fenced: only the current lease of a leased job matches.
-- @workerIds: the worker of each ack, for the attempt's span (messaging.client.id).
-- Returns each job's queue: the caller announces them on baton_finished once committed (for
-- WaitJob and for limited queues on other replicas; see notifier.ts for why not in here).
with locked as (
  -- Every statement that updates leased rows locks them in id order, so an ack batch and a
  -- renewal batch over the same rows queue up instead of deadlocking. The acks travel with
  -- their locked rows, so the update below joins jobs by primary key only: joining a CTE of
  -- locked ids with the acks made the generic plan of this prepared statement a nested loop
  -- over both (1,000 acks: 150-350 ms instead of 10-25 ms).
  -- Each row is locked through its primary key, the acks sorted first: a join let the planner
  -- hash the whole table for a batch of a few hundred (11 ms of 28 for 1,000 acks on 40k jobs).
  select a.id, a.lease_token, a.result, a.worker_id
  from (
    select * from unnest(@ids::bigint[], @leaseTokens::uuid[], @results::bytea[], @workerIds::text[]) as u(id, lease_token, result, worker_id) order by u.id
  ) a
  cross join lateral (select j.id from baton.jobs j where j.id = a.id for update of j) row_lock
),
acked as (
  update baton.jobs j
  set state = 'succeeded', finish_time = coalesce(@now::timestamptz, now()), result = a.result, worker_id = a.worker_id,
      lease_token = null, lease_expire_time = null, lease_owner = null, attempt_deadline = null
  from locked a
  where j.id = a.id and j.lease_token = a.lease_token and j.state = 'leased'
  returning j.id, j.queue, a.lease_token,
            -- For the run-duration histogram (src/telemetry/job-metrics.ts).
            greatest(extract(epoch from j.finish_time - j.attempt_start_time), 0)::float8 as run_seconds
)
-- Settled leases are named by id and token: a stale ack of the same job in the same batch
-- must not be told it won.
select acked.id, acked.lease_token, acked.queue, acked.run_seconds from acked;

-- name: JobFailMany
-- Settles attempts as failed, fenced like JobAckMany: CANCELLED if a cancel was requested,
-- DEAD if the worker asked for it or the budget is spent, else back to the queue after
-- retry_delay or, when that is null, an exponential backoff with equal jitter (half fixed,
-- half random, so delays grow with each attempt) from the queue's retry settings, else @retryBaseSeconds/@retryMaxSeconds.
-- @workerIds: the worker of each failure (null when none ended it: an expired lease), for the span.
with failed as (
  select j.id, j.queue, n.lease_token, n.error, n.worker_id,
         -- For the metrics (src/telemetry/job-metrics.ts): how long the attempt ran, and
         -- whether its lease had run out (its holder vanished, or it outlived its timeout).
         greatest(extract(epoch from coalesce(@now::timestamptz, now()) - j.attempt_start_time), 0)::float8 as run_seconds,
         (j.lease_expire_time <= coalesce(@now::timestamptz, now())
           or coalesce(j.attempt_deadline <= coalesce(@now::timestamptz, now()), false)) as lease_ran_out,
         case
           when j.cancel_requested then 'cancelled'::baton.job_state
           when n.dead_letter or j.attempt >= j.max_attempts then 'dead'::baton.job_state
           else 'available'::baton.job_state
         end as next_state,
         coalesce(
           n.retry_delay_seconds,
           least(coalesce(extract(epoch from q.retry_max_delay), @retryMaxSeconds::float8),
                 coalesce(extract(epoch from q.retry_base_delay), @retryBaseSeconds::float8) * power(2, j.attempt - 1))
             * (0.5 + random() / 2)
         ) as delay_seconds
  -- Rows locked one by one through the primary key, in id order, as in JobAckMany.
  from (
    select * from unnest(@ids::bigint[], @leaseTokens::uuid[], @errors::text[], @retryDelaySeconds::float8[], @deadLetters::bool[], @workerIds::text[])
      as u(id, lease_token, error, retry_delay_seconds, dead_letter, worker_id)
    order by u.id
  ) n
  cross join lateral (
    select j.id, j.queue, j.cancel_requested, j.attempt, j.max_attempts, j.attempt_start_time,
           j.lease_expire_time, j.attempt_deadline
    from baton.jobs j
    where j.id = n.id and j.lease_token = n.lease_token and j.state = 'leased'
    for update of j
  ) j
  left join baton.queues q on q.name = j.queue
),
updated as (
  update baton.jobs j
  set state = f.next_state,
      run_time = case when f.next_state = 'available'
                      then coalesce(@now::timestamptz, now()) + make_interval(secs => f.delay_seconds)
                      else j.run_time end,
      finish_time = case when f.next_state <> 'available' then coalesce(@now::timestamptz, now()) end,
      last_error = f.error,
      worker_id = f.worker_id,
      errors = j.errors || jsonb_build_object(
        'attempt', j.attempt, 'message', f.error, 'time', coalesce(@now::timestamptz, now())),
      lease_token = null, lease_expire_time = null, lease_owner = null, attempt_deadline = null
  from failed f
  -- Always true of a locked row; lets a large batch read the leased rows' index, not the table.
  where j.id = f.id and j.state = 'leased'
  returning j.id, j.queue, j.state, j.run_time, f.lease_token, f.run_seconds, f.lease_ran_out
)
-- The caller announces the queues on baton_finished once committed, as for JobAckMany.
select updated.* from updated;

-- name: JobAdoptMany
-- Moves leases to a reconnected stream (hello.resume): still leased with the token the worker
-- holds, they get a fresh token and a full lease. The old token stops working, so the stream
-- that held them before can no longer release or settle them.
update baton.jobs j
set lease_token = gen_random_uuid(),
    lease_owner = @owner,
    lease_expire_time = least(
      coalesce(@now::timestamptz, now()) + coalesce(
        (select q.lease_duration from baton.queues q where q.name = j.queue), make_interval(secs => @leaseSeconds::float8)),
      coalesce(j.attempt_deadline, 'infinity'))
from unnest(@ids::bigint[], @leaseTokens::uuid[]) as l(id, lease_token)
where j.id = l.id and j.lease_token = l.lease_token and j.state = 'leased'
returning {{JobColumns}}, false as scheduled;

-- name: JobSettleFailureReasons
-- Why settling these jobs matched nothing: the job is gone, not leased, or leased anew.
select k.id, j.state, j.lease_token = k.lease_token as token_matches
from unnest(@ids::bigint[], @leaseTokens::uuid[]) as k(id, lease_token)
left join baton.jobs j on j.id = k.id;

-- name: JobProgressMany
update baton.jobs j
set progress_percent = p.percent, progress_message = p.message
from unnest(@ids::bigint[], @leaseTokens::uuid[], @percents::int[], @messages::text[]) as p(id, lease_token, percent, message)
where j.id = p.id and j.lease_token = p.lease_token and j.state = 'leased';

-- name: JobRenewMany
-- Extends every listed lease by its queue's lease duration (else @leaseSeconds seconds), never past the
-- attempt's deadline; a lease missing from the output was lost (reaped, settled elsewhere)
-- and its worker must be told.
-- Locks in id order like JobAckMany, with the leases carried along for the same reason.
with locked as (
  select l.id, l.lease_token
  from (select * from unnest(@ids::bigint[], @leaseTokens::uuid[]) as u(id, lease_token) order by u.id) l
  cross join lateral (select j.id from baton.jobs j where j.id = l.id for update of j) row_lock
)
update baton.jobs j
set lease_expire_time = least(
      coalesce(@now::timestamptz, now()) + coalesce(
        (select q.lease_duration from baton.queues q where q.name = j.queue), make_interval(secs => @leaseSeconds::float8)),
      coalesce(j.attempt_deadline, 'infinity'))
from locked l
where j.id = l.id and j.lease_token = l.lease_token and j.state = 'leased'
returning j.id;

-- name: JobFindExpired
-- Up to @limit leases that ended by database time: their replica died, lost the database, or
-- let the attempt's deadline pass. JobFailMany then settles them, fenced by token. Reads the
-- leased rows through jobs_leased_queue_idx: no index on lease_expire_time, which every claim
-- and renewal would have to update.
select id, lease_token, attempt_deadline is not null and attempt_deadline <= coalesce(@now::timestamptz, now()) as timed_out
from baton.jobs
where state = 'leased' and lease_expire_time < coalesce(@now::timestamptz, now())
order by lease_expire_time
limit @limit;

-- name: JobCancel
-- Cancels the jobs of @ids: at once those that wait; a leased one is marked, its holder is
-- told through baton_cancel, and whoever ends the lease without an ack makes it CANCELLED.
-- Jobs already finished, or leased and already asked to stop, are left alone, so cancelling
-- again changes nothing. Locks in id order, as JobAckMany does. Returns the jobs it changed,
-- each with its state after: cancelled, or leased (asked to stop).
with target as (
  select j.id, j.state from baton.jobs j
  where j.id = any(@ids::bigint[])
    and (j.state in ('available', 'blocked') or (j.state = 'leased' and not j.cancel_requested))
  order by j.id
  for update of j
),
changed as (
  update baton.jobs j
  set state = case when t.state = 'leased' then j.state else 'cancelled' end,
      finish_time = case when t.state = 'leased' then null else coalesce(@now::timestamptz, now()) end,
      cancel_requested = (t.state = 'leased')
  from target t
  where j.id = t.id
  returning j.id, j.queue, j.state
),
notified as (
  select pg_notify('baton_cancel', id::text) from changed where state = 'leased'
  union all
  select pg_notify('baton_finished', queue) from (select distinct queue from changed where state = 'cancelled') q
)
select changed.*, (select count(*) from notified) as notified from changed;

-- name: JobRetry
-- Revives the DEAD or CANCELLED jobs of @ids with a fresh attempt budget; their error history stays. A job with depends_on goes back to
-- BLOCKED, its dependency rows rebuilt, while a blocker has not succeeded (a DEAD or CANCELLED
-- one included: the dependant then runs once that blocker is retried and succeeds); else it is
-- AVAILABLE. Some jobs are refused, each with the reason, and the others revived:
--   a blocker no longer exists (retention deleted it), so the job could never run;
--   its dedup_key is held by an unfinished job (reviving it would break the key's uniqueness);
--   a newer job of the same call has the same dedup_key (only one may hold it: the newest).
-- Candidates are locked in id order, their blockers for share, so no blocker finishes between
-- the check and the dependency rows. A job that takes a dedup_key between this statement's
-- snapshot and its update makes it fail on jobs_dedup_idx; the caller runs it again. Output:
-- the revived jobs with refusal null, then the refused ones with their reason.
with candidates as (
  select j.id, j.queue, j.dedup_key, j.depends_on from baton.jobs j
  where j.id = any(@ids::bigint[])
    and j.state in ('dead', 'cancelled')
  order by j.id
  for update of j
),
blockers as (
  -- Locked rows come back as their latest version: the state a blocker has now.
  select b.id, b.state from baton.jobs b
  where b.id in (select unnest(c.depends_on) from candidates c)
  order by b.id
  for share of b
),
-- The sets below join candidates with blockers and with each other as whole sets (hash joins),
-- not row by row: a bulk retry of a queue's M dead jobs stays linear in M.
missing as (
  -- The first blocker of each candidate that no longer exists.
  select distinct on (c.id) c.id, x.id as blocker_id
  from candidates c
  cross join unnest(c.depends_on) x(id)
  left join blockers b on b.id = x.id
  where b.id is null
  order by c.id, x.id
),
waiting as (
  -- Candidates with a blocker that has not succeeded: they go back to BLOCKED.
  select distinct c.id
  from candidates c
  cross join unnest(c.depends_on) x(id)
  join blockers b on b.id = x.id
  where b.state <> 'succeeded'
),
newest as (
  -- Of the candidates sharing a dedup_key, the newest; only it may be revived.
  select c.id, max(c.id) over (partition by c.queue, c.dedup_key) as newest_id
  from candidates c
  where c.dedup_key is not null
),
checked as (
  select c.id, c.depends_on,
         case
           when missing.id is not null then format('it depends on job %s, which no longer exists', missing.blocker_id)
           when holder.id is not null then format('its dedup_key %s is held by job %s, which is %s', c.dedup_key, holder.id, holder.state)
           when newest.newest_id <> c.id then format('job %s, retried in the same call, has the same dedup_key %s', newest.newest_id, c.dedup_key)
         end as refusal
  from candidates c
  left join missing on missing.id = c.id
  left join newest on newest.id = c.id
  left join lateral (
    -- By jobs_dedup_idx: one index probe per candidate with a key.
    select h.id, h.state from baton.jobs h
    where h.queue = c.queue and h.dedup_key = c.dedup_key and h.state in ('available', 'blocked', 'leased')
    limit 1
  ) holder on true
),
revived as (
  update baton.jobs j
  set state = case when c.id in (select id from waiting) then 'blocked'::baton.job_state else 'available' end,
      attempt = 0, run_time = coalesce(@now::timestamptz, now()), finish_time = null,
      cancel_requested = false, progress_percent = 0, progress_message = '', result = null
  from checked c
  where j.id = c.id and c.refusal is null
  returning {{JobColumns}}
),
dependencies as (
  insert into baton.job_dependencies (job_id, blocker_id)
  select c.id, b.id from checked c join blockers b on b.id = any(c.depends_on)
  where c.refusal is null and b.state <> 'succeeded'
  on conflict do nothing
),
woken as (
  select pg_notify('baton_jobs', queue) from (select distinct queue from revived where state = 'available') q
)
select revived.*, false as scheduled, null::text as refusal, (select count(*) from woken) as woken from revived
union all
select {{JobColumns}}, false, c.refusal, 0 from checked c join baton.jobs j on j.id = c.id
where c.refusal is not null;

-- name: JobRepairDependants
-- Up to @limit BLOCKED jobs with nothing left to wait for, repaired: see baton.repair_dependants.
select * from baton.repair_dependants(@limit::int, @now::timestamptz);

-- fragment: JobMatches
-- Whether job j matches a filter (see JobFilter in job.proto): every parameter set must
-- match, a null one matches every job. @states holds stored states and "scheduled", which is
-- AVAILABLE with a run_time after @now (else the database's now). The statements that use it
-- run unprepared (see runPlannedEachTime), so the parameters left null fold away and what is
-- left can use an index: jobs_headers_idx for @headers (partial: jobs with headers, which a
-- filter that names a header can only match), jobs_create_time_idx for the times,
-- the primary key for @ids, jobs_chain_idx for @chainId.
(@queue::text is null or j.queue = @queue)
and (@states::text[] is null
     or (case when j.state = 'available' and j.run_time > coalesce(@now::timestamptz, now()) then 'scheduled'
              else j.state::text end) = any(@states::text[]))
and (@chainId::bigint is null or (j.chain_id = @chainId and (j.id = @chainId or j.chain_id <> j.id)))
and (@ids::bigint[] is null or j.id = any(@ids::bigint[]))
and (@headers::jsonb is null or (j.headers @> @headers::jsonb and j.headers <> '{}'::jsonb))
and (@createdAfter::timestamptz is null or j.create_time >= @createdAfter)
and (@createdBefore::timestamptz is null or j.create_time < @createdBefore)

-- name: JobListPage
-- A page of the jobs matching the filter (JobMatches), newest first, after the keyset cursor
-- @beforeId (an id): at most @limit rows, and only as many as keep their payloads, results,
-- headers, errors and progress within @maxBytes bytes (the first row always), so a page of
-- 1 MB payloads is cut short instead of loading hundreds of MB. Sizes are read from the tuples
-- without detoasting. `more` says whether a row follows the row it is on.
select page.* from (
  select {{JobColumns}}, (state = 'available' and run_time > coalesce(@now::timestamptz, now())) as scheduled,
         row_number() over newest as position,
         sum(octet_length(payload) + coalesce(octet_length(result), 0) + pg_column_size(headers)
             + pg_column_size(errors) + octet_length(last_error) + octet_length(progress_message)) over newest as bytes_so_far,
         lead(id) over newest is not null as more
  from baton.jobs j
  where {{JobMatches}}
    and (@beforeId::bigint is null or j.id < @beforeId)
  window newest as (order by id desc rows between unbounded preceding and current row)
  order by id desc
  limit @limit
) page
where position = 1 or bytes_so_far <= @maxBytes
order by id desc;

-- name: JobMatchIds
-- One batch of a bulk operation: the ids of at most @limit jobs matching the filter
-- (JobMatches), newest first, below the cursor @beforeId. A plain read: the operation then
-- locks these jobs and checks their state again, since they may have moved on meanwhile.
select j.id from baton.jobs j
where {{JobMatches}}
  and (@beforeId::bigint is null or j.id < @beforeId)
order by j.id desc
limit @limit;

-- name: JobDelete
-- Deletes the jobs of @ids that are not leased: a running job is never deleted. They are
-- locked in id order first, so a job a worker claims meanwhile (a claim skips locked rows, and
-- this waits for a claim that locked it first) is seen leased and left alone. Their dependency
-- rows go with them; a job that depended on one is cancelled by the dependants repair, as when
-- retention deletes a blocker.
with target as (
  select j.id from baton.jobs j
  where j.id = any(@ids::bigint[]) and j.state <> 'leased'
  order by j.id
  for update of j
)
delete from baton.jobs j using target t
where j.id = t.id
returning j.id, j.queue;

-- name: JobGetMany
-- Whole rows of claimed jobs, for streams that take full jobs (hello.lean_jobs unset).
select {{JobColumns}}, false as scheduled from baton.jobs j where j.id = any(@ids::bigint[]);

-- name: JobGetFinished
-- The jobs among @ids that reached a terminal state, for WaitJob.
select {{JobColumns}}, false as scheduled from baton.jobs j
where j.id = any(@ids::bigint[]) and j.state in ('succeeded', 'dead', 'cancelled');

-- name: JobDeleteExpired
-- Deletes up to @limit finished jobs older than their queue's retention for their end state
-- (defaults @succeededSeconds, @deadSeconds, @cancelledSeconds seconds for succeeded, dead, cancelled). Returns how many.
with expired as (
  select j.id from baton.jobs j
  left join baton.queues q on q.name = j.queue
  where j.state in ('succeeded', 'dead', 'cancelled')
    and j.finish_time < coalesce(@now::timestamptz, now()) - case j.state
      when 'succeeded' then coalesce(q.succeeded_retention, make_interval(secs => @succeededSeconds::float8))
      when 'dead' then coalesce(q.dead_retention, make_interval(secs => @deadSeconds::float8))
      else coalesce(q.cancelled_retention, make_interval(secs => @cancelledSeconds::float8)) end
  order by j.finish_time
  limit @limit
  for update of j skip locked
)
delete from baton.jobs j using expired where j.id = expired.id;
