import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import tls from "node:tls";

/** The first bytes of every HTTP/2 connection with prior knowledge (h2c), per RFC 9113 §3.4. */
const HTTP2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

const DECISIVE_BYTES = 4;

/**
 * Connections accepted beyond ConnectionGuard.maxConnections, for health probes only: a full
 * broker still tells its orchestrator it is alive. Beyond these, a connection is closed at once.
 */
export const OVERFLOW_CONNECTIONS = 32;

/** Guards the port against clients that connect and never speak, and against too many at once. */
export interface ConnectionGuard {
  /**
   * Time a new connection has to send the HTTP/2 preface and settings, or its first complete
   * HTTP/1.1 request head; with TLS, the TLS handshake has as long again before that.
   */
  handshakeTimeoutMs: number;
  /** Connections held at once. */
  maxConnections: number;
  /** The request paths a connection beyond maxConnections is still answered (health probes). */
  answersWhenFull(path: string): boolean;
  /** Told when the port becomes full, and when it is no longer. */
  onFull(full: boolean, open: number): void;
}

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

const deadlineKey = Symbol("baton.handshakeDeadline");
/** Marks a connection accepted beyond the limit. */
const overflowKey = Symbol("baton.overflow");
type GuardedSocket = net.Socket & { [deadlineKey]?: NodeJS.Timeout; [overflowKey]?: true };

/** Closes `socket` unless its handshake completes (handshakeDone) within `ms`. */
function armDeadline(socket: GuardedSocket, ms: number): void {
  const timer = setTimeout(() => socket.destroy(), ms);
  socket[deadlineKey] = timer;
  socket.once("close", () => clearTimeout(timer));
}

// An HTTP/2 session's socket is a proxy that forwards property reads to the socket itself.
function handshakeDone(socket: net.Socket): void {
  clearTimeout((socket as GuardedSocket)[deadlineKey]);
}

const isOverflow = (socket: net.Socket) => (socket as GuardedSocket)[overflowKey] === true;

/**
 * One port for both protocols: gRPC and Connect clients open h2c connections, browsers and
 * curl speak HTTP/1.1. The first bytes of each connection decide which server gets it. With
 * `tlsMaterial` the port speaks TLS only and ALPN decides instead (see createTlsServer).
 */
export function createDualProtocolServer(
  handler: (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse) => void,
  http2Options: http2.ServerOptions,
  guard: ConnectionGuard,
  tlsMaterial?: TlsMaterial,
): DualProtocolServer {
  const full = `this broker holds its limit of ${guard.maxConnections} connections (BATON_MAX_CONNECTIONS); retry later`;
  const refuse = (res: http.ServerResponse | http2.Http2ServerResponse) => {
    res.writeHead(503, { "content-type": "text/plain", "retry-after": "1" });
    res.end(`${full}\n`);
  };
  // A connection beyond the limit keeps its deadline: it lives at most that long, whatever it does.
  const h2 = http2.createServer(http2Options, (req, res) => {
    if (!isOverflow(req.socket) || guard.answersWhenFull(req.url)) return handler(req, res);
    // gRPC (and gRPC-Web) clients read a "trailers-only" UNAVAILABLE; Connect clients map 503 to it.
    const contentType = req.headers["content-type"] ?? "";
    if (contentType.startsWith("application/grpc")) {
      res.writeHead(200, { "content-type": contentType, "grpc-status": "14", "grpc-message": encodeURIComponent(full) });
      return void res.end();
    }
    refuse(res);
  });
  const h1 = http.createServer((req, res) => {
    if (!isOverflow(req.socket)) {
      handshakeDone(req.socket);
      return handler(req, res);
    }
    res.shouldKeepAlive = false;
    if (guard.answersWhenFull(req.url ?? "")) return handler(req, res);
    refuse(res);
  });
  h2.on("session", (session) => {
    const socket = session.socket;
    // Beyond the limit, one stream: the GOAWAY sent with it refuses any other.
    if (isOverflow(socket)) return void session.once("stream", () => session.close());
    // The client's SETTINGS frame follows its preface: the handshake is complete.
    session.once("remoteSettings", () => handshakeDone(socket));
  });

  let open = 0;
  let isFull = false;
  /**
   * Hands a connection to the server of its protocol. Beyond the limit, a connection gets one
   * request, answered only if it is a health probe (/healthz, grpc.health.v1), and is closed.
   */
  const dispatch = (socket: GuardedSocket, isHttp2: boolean) => {
    if (open > guard.maxConnections) socket[overflowKey] = true;
    (isHttp2 ? h2 : h1).emit("connection", socket);
  };
  const tcp = tlsMaterial ? createTlsServer(tlsMaterial, guard.handshakeTimeoutMs, dispatch) : net.createServer((socket) => {
    let head = Buffer.alloc(0);
    const onReadable = () => {
      let chunk: Buffer | null;
      while ((chunk = socket.read() as Buffer | null) !== null) head = Buffer.concat([head, chunk]);
      // "PRI " and "POST" share their first letter: decide only once four bytes are in.
      if (head.length < DECISIVE_BYTES && head.length > 0) return;
      socket.off("readable", onReadable);
      if (head.length === 0) return;
      socket.unshift(head);
      dispatch(socket, head.subarray(0, DECISIVE_BYTES).equals(HTTP2_PREFACE.subarray(0, DECISIVE_BYTES)));
    };
    socket.on("readable", onReadable);
    socket.on("error", () => socket.destroy());
    armDeadline(socket, guard.handshakeTimeoutMs);
  });
  // Every accepted connection counts, TLS ones from before their handshake.
  tcp.on("connection", (socket: net.Socket) => {
    if (open >= guard.maxConnections + OVERFLOW_CONNECTIONS) return void socket.destroy();
    open += 1;
    if (open > guard.maxConnections && !isFull) guard.onFull((isFull = true), open);
    socket.once("close", () => {
      open -= 1;
      if (isFull && open <= guard.maxConnections) guard.onFull((isFull = false), open);
    });
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
function createTlsServer(material: TlsMaterial, handshakeTimeoutMs: number, dispatch: (socket: net.Socket, isHttp2: boolean) => void): tls.Server {
  const mutual = material.clientCa !== undefined;
  const server = tls.createServer(
    {
      cert: material.cert,
      key: material.key,
      ...(mutual && { ca: material.clientCa, requestCert: true, rejectUnauthorized: true }),
      ALPNProtocols: ["h2", "http/1.1"],
      minVersion: "TLSv1.2",
      handshakeTimeout: handshakeTimeoutMs,
    },
    (socket) => {
      socket.on("error", () => socket.destroy());
      armDeadline(socket, handshakeTimeoutMs);
      dispatch(socket, socket.alpnProtocol === "h2");
    },
  );
  // A failed handshake (no client certificate, a plaintext client) concerns that client only.
  server.on("tlsClientError", (_error, socket) => socket.destroy());
  return server;
}
