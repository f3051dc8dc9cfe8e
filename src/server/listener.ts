import http from "node:http";
import http2 from "node:http2";
import net from "node:net";

/** The first bytes of every HTTP/2 connection with prior knowledge (h2c), per RFC 9113 §3.4. */
const HTTP2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

const DECISIVE_BYTES = 4;

export interface DualProtocolServer {
  readonly tcp: net.Server;
  readonly http2: http2.Http2Server;
  readonly http1: http.Server;
  /**
   * Stops accepting connections, asks open ones to finish (HTTP/2 GOAWAY, idle HTTP/1.1
   * closed), and destroys whatever is left after `graceMs`.
   */
  close(graceMs: number): Promise<void>;
}

/**
 * One port for both protocols: gRPC and Connect clients open h2c connections, browsers and
 * curl speak HTTP/1.1. The first bytes of each connection decide which server gets it.
 */
export function createDualProtocolServer(
  handler: (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse) => void,
  http2Options: http2.ServerOptions,
): DualProtocolServer {
  const h2 = http2.createServer(http2Options, handler);
  const h1 = http.createServer(handler);
  const tcp = net.createServer((socket) => {
    let head = Buffer.alloc(0);
    const onReadable = () => {
      let chunk: Buffer | null;
      while ((chunk = socket.read()) !== null) head = Buffer.concat([head, chunk]);
      // "PRI " and "POST" share their first letter: decide only once four bytes are in.
      if (head.length < DECISIVE_BYTES && head.length > 0) return;
      socket.off("readable", onReadable);
      if (head.length === 0) return;
      socket.unshift(head);
      const isHttp2 = head.subarray(0, DECISIVE_BYTES).equals(HTTP2_PREFACE.subarray(0, DECISIVE_BYTES));
      (isHttp2 ? h2 : h1).emit("connection", socket);
    };
    socket.on("readable", onReadable);
    socket.on("error", () => socket.destroy());
  });
  const sessions = new Set<http2.ServerHttp2Session>();
  h2.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });
  const close = async (graceMs: number) => {
    tcp.close();
    for (const session of sessions) session.close();
    h1.closeIdleConnections();
    const deadline = Date.now() + graceMs;
    while (sessions.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    for (const session of sessions) session.destroy();
    h1.closeAllConnections();
  };
  return { tcp, http2: h2, http1: h1, close };
}
