-- Schedule control: pausing a schedule, making up fires missed within a catch-up window, and
-- skipping a fire while the previous fire's job is unfinished.

alter table baton.schedules
  -- A paused schedule is never due; its next_run_time stays, so resuming makes up what it
  -- missed as downtime would be (per catchup_window).
  add column paused boolean not null default false,
  -- Null: a schedule that missed fire times fires once, for the latest. Set: every missed fire
  -- time at most this old fires, oldest first.
  add column catchup_window interval,
  -- 'skip': a fire time passes without a job while the previous fire's job is unfinished.
  add column overlap_policy text not null default 'allow',
  -- The job of the latest fire (a cron fire or a trigger), which 'skip' looks at. No foreign
  -- key: retention deletes finished jobs, and a deleted job is a finished one.
  add column last_job_id bigint,
  add constraint schedule_catchup_window_range check (catchup_window between interval '10 seconds' and interval '366 days'),
  add constraint schedule_overlap_policy_known check (overlap_policy in ('allow', 'skip'));

-- Due schedules are looked up by next_run_time among the running ones only.
drop index baton.schedules_due_idx;
create index schedules_due_idx on baton.schedules (next_run_time) where not paused;
