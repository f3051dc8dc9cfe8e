import type { Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";

export interface ConnectionOptions {
  /** Broker address, e.g. "http://localhost:7600". */
  baseUrl: string;
  /** A ready transport; overrides baseUrl (for TLS settings, interceptors, tests). */
  transport?: Transport;
}

/**
 * gRPC over HTTP/2 with keepalive PINGs, so a dead broker or a half-open connection is noticed
 * within seconds rather than at the next write. Responses come uncompressed: on the networks a
 * broker and its workers share, gzipping every batch of jobs costs more CPU than the bytes it
 * saves (pass a transport of your own to accept compression).
 */
export function resolveTransport(options: ConnectionOptions): Transport {
  return (
    options.transport ??
    createGrpcTransport({
      baseUrl: options.baseUrl,
      pingIntervalMs: 10_000,
      pingTimeoutMs: 10_000,
      pingIdleConnection: true,
      acceptCompression: [],
      // Batches of jobs are larger than HTTP/2's default 64 KiB stream window.
      nodeOptions: { settings: { initialWindowSize: 4 * 1024 * 1024 } },
    })
  );
}
