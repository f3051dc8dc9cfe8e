import type { Interceptor, Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { type BatonServices, serviceClients } from "./services.js";

export interface ConnectionOptions {
  /** Broker address, e.g. "http://localhost:7600". */
  baseUrl: string;
  /**
   * API token (from `baton tokens create`), sent on every call as "authorization: Bearer
   * <token>"; needed by brokers with authentication on (BATON_AUTH).
   */
  token?: string;
  /**
   * Longest an ordinary call may take, in milliseconds, unless the call sets its own; default
   * none. Streams (a worker's Subscribe, the enqueue stream) are not bounded by it.
   */
  timeoutMs?: number;
  /** A ready transport; overrides baseUrl, token and timeoutMs (for TLS settings, interceptors, tests). */
  transport?: Transport;
}

/**
 * gRPC over HTTP/2 with keepalive PINGs, so a dead broker or a half-open connection is noticed
 * within seconds rather than at the next write. Responses come uncompressed: on the networks a
 * broker and its workers share, gzipping every batch of jobs costs more CPU than the bytes it
 * saves (pass a transport of your own to accept compression).
 */
export function resolveTransport(options: ConnectionOptions): Transport {
  if (options.transport) return options.transport;
  const { token } = options;
  const bearer: Interceptor = (next) => (request) => {
    request.header.set("authorization", `Bearer ${token}`);
    return next(request);
  };
  return createGrpcTransport({
    baseUrl: options.baseUrl,
    pingIntervalMs: 10_000,
    pingTimeoutMs: 10_000,
    pingIdleConnection: true,
    acceptCompression: [],
    // Batches of jobs are larger than HTTP/2's default 64 KiB stream window.
    nodeOptions: { settings: { initialWindowSize: 4 * 1024 * 1024 } },
    ...(options.timeoutMs !== undefined && { defaultTimeoutMs: options.timeoutMs }),
    interceptors: token === undefined || token === "" ? [] : [bearer],
  });
}

/**
 * Every service over one connection, with the client's transport (keepalive, token, timeout):
 * for operators' tools, such as the `baton` CLI, that call RPCs without a helper.
 */
export function connectServices(options: ConnectionOptions): BatonServices {
  return serviceClients(resolveTransport(options));
}
