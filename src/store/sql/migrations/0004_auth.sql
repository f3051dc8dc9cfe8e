-- API tokens, and names and sizes checked by the database as well as by the API.

-- A queue pattern: the queue-name rule with '*' (any run of characters) allowed anywhere.
create function baton.queue_patterns_valid(patterns text[]) returns boolean
language sql immutable strict as $$
  select cardinality(patterns) between 1 and 100
     and coalesce(bool_and(p is not null and p ~ '^[A-Za-z0-9*][A-Za-z0-9_.:*-]{0,127}$'), false)
  from unnest(patterns) as p
$$;

-- Bearer tokens for the broker's RPCs. Only the SHA-256 digest of each secret is kept: the
-- secret is shown once, by `baton tokens create`, so a copy of this table grants nothing. A
-- secret holds 256 random bits, so an unsalted fast hash is enough (no guessing is feasible).
-- `queues` are glob patterns ('*' matches any run of characters): 'emails.*', '*'.
-- Null limits take the broker's defaults (BATON_TOKEN_*).
create table baton.api_tokens (
  id bigint generated always as identity primary key,
  name text not null,
  role text not null,
  queues text[] not null,
  secret_sha256 bytea not null,
  rate_limit double precision,
  max_streams integer,
  max_in_flight integer,
  create_time timestamptz not null default now(),
  revoke_time timestamptz,

  constraint api_token_name_valid check (name ~ '^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$'),
  constraint api_token_role_valid check (role in ('producer', 'worker', 'admin')),
  constraint api_token_queues_valid check (baton.queue_patterns_valid(queues)),
  constraint api_token_secret_is_sha256 check (octet_length(secret_sha256) = 32),
  constraint api_token_limits_positive check (
    coalesce(rate_limit, 1) > 0 and coalesce(max_streams, 1) > 0 and coalesce(max_in_flight, 1) > 0)
);

create unique index api_tokens_secret_idx on baton.api_tokens (secret_sha256);

-- The API refuses these first, with a precise message; the constraints keep other writers
-- (baton.enqueue from SQL, a future code path) to the same rules. NOT VALID: rows already
-- stored are not rescanned, which would lock a large jobs table for the whole scan.
alter table baton.jobs
  add constraint dedup_key_length check (char_length(dedup_key) <= 512) not valid,
  add constraint fairness_key_length check (char_length(fairness_key) <= 256) not valid,
  add constraint headers_is_object check (jsonb_typeof(headers) = 'object') not valid;

alter table baton.schedules
  add constraint schedule_headers_is_object check (jsonb_typeof(headers) = 'object') not valid;

alter table baton.workers
  add constraint worker_id_length check (char_length(worker_id) <= 256) not valid;
