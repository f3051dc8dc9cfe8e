-- API tokens may expire (`baton tokens create --expires-in 30d`): past expire_time a token is
-- refused as UNAUTHENTICATED "token expired", as a revoked one is. Null: it never expires.
-- Set from database time (now() + the interval), like every other time in Baton.
alter table baton.api_tokens
  add column expire_time timestamptz,
  add constraint api_token_expires_after_creation check (expire_time > create_time);
