-- A fourth token role, viewer: every read RPC (the whole dashboard) on its queues, no change.
alter table baton.api_tokens
  drop constraint api_token_role_valid,
  add constraint api_token_role_valid check (role in ('producer', 'worker', 'admin', 'viewer'));
