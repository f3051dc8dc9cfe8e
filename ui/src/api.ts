// The dashboard's only door to the broker: the generated clients over the Connect protocol
// (HTTP/1.1 POSTs with JSON bodies, same origin), the same API every other client uses.
import { type Client, type Interceptor, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { JobService } from "../../clients/ts/src/gen/baton/v1/job_service_pb.js";
import { QueueService } from "../../clients/ts/src/gen/baton/v1/queue_service_pb.js";
import { ScheduleService } from "../../clients/ts/src/gen/baton/v1/schedule_service_pb.js";
import { WorkerService } from "../../clients/ts/src/gen/baton/v1/worker_service_pb.js";

const TOKEN_KEY = "baton.token";

/** The bearer token typed into the header's field; empty when the broker runs without auth. */
export function getToken(): string {
  try {
    return localStorage.getItem(TOKEN_KEY) ?? "";
  } catch {
    return ""; // storage disabled: the dashboard still works without auth
  }
}

export function setToken(token: string): void {
  try {
    if (token === "") localStorage.removeItem(TOKEN_KEY);
    else localStorage.setItem(TOKEN_KEY, token);
  } catch {
    // Storage disabled: nothing to keep.
  }
}

/** Sends `Authorization: Bearer <token>` on every call when a token is set. */
const bearerAuth: Interceptor = (next) => (request) => {
  const token = getToken();
  if (token !== "") request.header.set("authorization", `Bearer ${token}`);
  return next(request);
};

export interface Api {
  jobs: Client<typeof JobService>;
  queues: Client<typeof QueueService>;
  schedules: Client<typeof ScheduleService>;
  workers: Client<typeof WorkerService>;
}

export function createApi(baseUrl: string): Api {
  const transport = createConnectTransport({ baseUrl, interceptors: [bearerAuth] });
  return {
    jobs: createClient(JobService, transport),
    queues: createClient(QueueService, transport),
    schedules: createClient(ScheduleService, transport),
    workers: createClient(WorkerService, transport),
  };
}

/** The broker that served this page. */
export const api = createApi(window.location.origin);

/** What /ui/config.json tells the dashboard (see src/server/static-ui.ts). */
export interface UiConfig {
  /** URL with {chainId}, {jobId}, {queue} and {traceId} placeholders; empty hides trace links. */
  traceUrlTemplate: string;
}

export async function loadConfig(): Promise<UiConfig> {
  try {
    const response = await fetch(`${import.meta.env.BASE_URL}config.json`, { cache: "no-store" });
    if (!response.ok) return { traceUrlTemplate: "" };
    const body = (await response.json()) as Partial<UiConfig>;
    return { traceUrlTemplate: typeof body.traceUrlTemplate === "string" ? body.traceUrlTemplate : "" };
  } catch {
    return { traceUrlTemplate: "" };
  }
}
