import type http2 from "node:http2";

export interface KeepaliveOptions {
  /** How often each HTTP/2 connection is pinged. */
  intervalMs: number;
  /** A ping unanswered for this long means a dead or half-open peer. */
  timeoutMs: number;
}

/**
 * HTTP/2 PING keepalive for every connection of the server, driven by one shared timer. A
 * connection whose peer stops answering (crashed host, half-open TCP) is destroyed, which
 * ends its streams and so releases their leases.
 */
export function startKeepalive(server: http2.Http2Server, options: KeepaliveOptions): { stop(): void } {
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });
  const timer = setInterval(() => {
    for (const session of sessions) {
      if (session.destroyed || session.closed) continue;
      const deadline = setTimeout(() => session.destroy(new Error("keepalive ping timed out")), options.timeoutMs);
      const sent = session.ping((error) => {
        clearTimeout(deadline);
        if (error && !session.destroyed) session.destroy(error);
      });
      if (!sent) clearTimeout(deadline);
    }
  }, options.intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
