-- Queries of the api_tokens table. Secrets never reach the database: only their SHA-256.

-- fragment: TokenColumns
-- A token as TokenRow reads it (src/store/tokens.ts): never its secret's hash.
id::text as id, name, role, queues, rate_limit, max_streams, max_in_flight, create_time, revoke_time, expire_time

-- name: TokenCreate
-- @expiresInSeconds: seconds until it expires, from database time; null never expires.
insert into baton.api_tokens (name, role, queues, secret_sha256, rate_limit, max_streams, max_in_flight, expire_time)
values (@name, @role, @queues, @secretSha256, @rateLimit, @maxStreams, @maxInFlight, now() + make_interval(secs => @expiresInSeconds::float8))
returning {{TokenColumns}};

-- name: TokenList
select {{TokenColumns}} from baton.api_tokens order by id;

-- name: TokenGet
select {{TokenColumns}} from baton.api_tokens where id = @id;

-- name: TokenFindBySecret
-- Revoked and expired tokens are found too, so that their callers learn why they are refused.
-- expires_in_ms is measured on database time, so a broker whose clock is off still ends the
-- token on time (it counts the remainder down on its own clock while the lookup is cached).
select {{TokenColumns}}, extract(epoch from expire_time - now()) * 1000 as expires_in_ms
from baton.api_tokens where secret_sha256 = @secretSha256;

-- name: TokenRevoke
-- Revokes a token and tells every replica at once (baton_tokens, payload the id), so streams
-- opened with it end now rather than at the next periodic check. No row: unknown or already
-- revoked.
with revoked as (
  update baton.api_tokens set revoke_time = now()
  where id = @id and revoke_time is null
  returning {{TokenColumns}}
)
select revoked.*, pg_notify('baton_tokens', revoked.id::text) from revoked;

-- name: TokenRevokedAmong
-- The tokens of @ids that can no longer be used: revoked, or gone.
select t.id::text as id
from unnest(@ids::bigint[]) as t(id)
where not exists (select 1 from baton.api_tokens a where a.id = t.id and a.revoke_time is null);
