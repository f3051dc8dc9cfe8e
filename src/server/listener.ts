import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import tls from "node:tls";

/** The first bytes of every HTTP/2 connection with prior knowledge (h2c), per RFC 9113 §3.4. */
const HTTP2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

const DECISIVE_BYTES = 4;

/** PEM material for TLS; with `clientCa`, clients must present a certificate it issued. */
export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  clientCa?: Buffer;
}

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
 * curl speak HTTP/1.1. The first bytes of each connection decide which server gets it. With
 * `tlsMaterial` the port speaks TLS only and ALPN decides instead (see createTlsServer).
 */
export function createDualProtocolServer(
  handler: (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse) => void,
  http2Options: http2.ServerOptions,
  tlsMaterial?: TlsMaterial,
): DualProtocolServer {
  const h2 = http2.createServer(http2Options, handler);
  const h1 = http.createServer(handler);
  const tcp = tlsMaterial ? createTlsServer(tlsMaterial, h2, h1) : net.createServer((socket) => {
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

/**
 * TLS on the one port: the handshake offers "h2" and "http/1.1" by ALPN, and the decrypted
 * socket goes to the HTTP/2 server for "h2", to the HTTP/1.1 server otherwise (a client that
 * sends no ALPN speaks HTTP/1.1). With a client CA, a client without a certificate it issued
 * fails the handshake and never reaches either server.
 */
function createTlsServer(material: TlsMaterial, h2: http2.Http2Server, h1: http.Server): tls.Server {
  const mutual = material.clientCa !== undefined;
  const server = tls.createServer(
    {
      cert: material.cert,
      key: material.key,
      ...(mutual && { ca: material.clientCa, requestCert: true, rejectUnauthorized: true }),
      ALPNProtocols: ["h2", "http/1.1"],
      minVersion: "TLSv1.2",
    },
    (socket) => {
      socket.on("error", () => socket.destroy());
      (socket.alpnProtocol === "h2" ? h2 : h1).emit("connection", socket);
    },
  );
  // A failed handshake (no client certificate, a plaintext client) concerns that client only.
  server.on("tlsClientError", (_error, socket) => socket.destroy());
  return server;
}
