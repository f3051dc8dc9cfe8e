// The dashboard's only door to the broker: the generated clients over the Connect protocol
// (HTTP/1.1 POSTs with JSON bodies, same origin), the same API every other client uses.
import type { Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { type BatonServices, serviceClients } from "../../clients/ts/src/services.js";

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

export type Api = BatonServices;

export function createApi(baseUrl: string): Api {
  return serviceClients(createConnectTransport({ baseUrl, interceptors: [bearerAuth] }));
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
