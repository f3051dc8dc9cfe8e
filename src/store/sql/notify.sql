-- Wakeups sent on their own, right after the writes they announce have committed.

-- name: NotifyMany
-- One notification per (channel, payload) pair of @channels and @payloads. A transaction that only notifies
-- writes no WAL, so it holds PostgreSQL's notification lock for an instant (see notifier.ts).
select count(pg_notify(n.channel, n.payload)) as sent
from unnest(@channels::text[], @payloads::text[]) as n(channel, payload);
