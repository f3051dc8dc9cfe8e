import { Code, ConnectError } from "@connectrpc/connect";
import type { ComponentChildren } from "preact";
import type { Job } from "../../../clients/ts/src/gen/baton/v1/job_pb.js";
import { stateLabel } from "../format.js";

export function StateBadge(props: { job: Pick<Job, "state" | "attempt" | "cancelRequested"> }) {
  const label = stateLabel(props.job);
  return <span class={`badge state-${label.toLowerCase()}`}>{label}</span>;
}

export function errorText(error: unknown): string {
  if (error instanceof ConnectError) {
    if (error.code === Code.Unauthenticated) return `${error.rawMessage} — set an API token in the header`;
    if (error.code === Code.Unavailable || error.code === Code.Unknown) return `broker unreachable: ${error.rawMessage}`;
    return `${Code[error.code]}: ${error.rawMessage}`;
  }
  return error instanceof Error ? error.message : String(error);
}

/** A failed poll or action; the view keeps its last good data underneath. */
export function ErrorBanner(props: { error: unknown }) {
  if (props.error === undefined) return null;
  return (
    <div class="banner banner-error" role="alert">
      {errorText(props.error)}
    </div>
  );
}

export function Section(props: { title: ComponentChildren; actions?: ComponentChildren; children: ComponentChildren; id?: string }) {
  return (
    <section class="card" id={props.id}>
      <header class="card-head">
        <h2>{props.title}</h2>
        {props.actions ? <div class="card-actions">{props.actions}</div> : null}
      </header>
      {props.children}
    </section>
  );
}

export function Empty(props: { children: ComponentChildren }) {
  return <p class="empty">{props.children}</p>;
}

export function Loading() {
  return <p class="empty">Loading…</p>;
}

export function Progress(props: { percent: number; message?: string }) {
  const percent = Math.max(0, Math.min(100, props.percent));
  return (
    <span class="progress" title={props.message || `${percent}%`}>
      <span class="progress-bar">
        <span class="progress-fill" style={{ width: `${percent}%` }} />
      </span>
      <span class="progress-text">
        {percent}%{props.message ? ` · ${props.message}` : ""}
      </span>
    </span>
  );
}
