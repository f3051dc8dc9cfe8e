import { once } from "node:events";
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { loadConfig } from "../src/config.js";
import { JobService } from "../clients/ts/src/gen/baton/v1/job_service_pb.js";
import { Health, HealthCheckResponse_ServingStatus } from "../clients/ts/src/gen/grpc/health/v1/health_pb.js";
import { OVERFLOW_CONNECTIONS } from "../src/server/listener.js";
import { type TestBroker, startTestBroker } from "./helpers/broker.js";
import { eventually } from "./helpers/wait.js";

/**
 * The port against clients that connect and say nothing: connections that do not send their
 * HTTP/2 preface or first HTTP/1.1 request in time are closed, and beyond BATON_MAX_CONNECTIONS
 * the broker still answers health checks (/healthz, /livez, grpc.health.v1), and nothing else. Real sockets throughout.
 */

let quick: TestBroker;
let small: TestBroker;
const MAX_CONNECTIONS = 3;
const sockets: net.Socket[] = [];

beforeAll(async () => {
  [quick, small] = await Promise.all([
    startTestBroker({ connections: { handshakeTimeoutMs: 300, maxConnections: 1000 } }),
    // A handshake timeout beyond the test: silent sockets hold their place until closed here.
    startTestBroker({ connections: { handshakeTimeoutMs: 120_000, maxConnections: MAX_CONNECTIONS } }),
  ]);
});

afterEach(() => {
  for (const socket of sockets.splice(0)) socket.destroy();
});

afterAll(async () => {
  await small?.stop();
  await quick?.stop();
});

/** A connection that sends `bytes` (nothing by default), once connected. */
async function connect(broker: TestBroker, bytes = ""): Promise<net.Socket> {
  const socket = net.connect(broker.server.port, "127.0.0.1");
  sockets.push(socket);
  socket.on("error", () => {});
  // Reading, so that the broker's close is seen even after it wrote (HTTP/2 sends its SETTINGS first).
  socket.resume();
  await once(socket, "connect");
  if (bytes !== "") socket.write(bytes);
  return socket;
}

/** Resolves when the broker closes the socket (its end, then its close). */
const closedByBroker = (socket: net.Socket) => (socket.closed ? Promise.resolve() : once(socket, "close").then(() => undefined));

/** GET over HTTP/1.1 on a connection of its own. */
function get(broker: TestBroker, path: string): Promise<{ status: number; body: string; connection: string | undefined }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: "127.0.0.1", port: broker.server.port, path, agent: false }, (res) => {
        let body = "";
        res.on("data", (chunk: Buffer) => (body += chunk.toString()));
        res.on("end", () => resolve({ status: res.statusCode!, body, connection: res.headers.connection }));
      })
      .on("error", reject);
  });
}

describe("handshake timeout (BATON_HANDSHAKE_TIMEOUT_SECONDS)", () => {
  test("a connection that sends nothing is closed by the broker", async () => {
    await closedByBroker(await connect(quick));
  });

  test("so is one that stops halfway through the HTTP/2 preface, or through an HTTP/1.1 request head", async () => {
    await Promise.all([
      closedByBroker(await connect(quick, "PRI * HTTP/2.0\r\n")),
      closedByBroker(await connect(quick, "PR")),
      closedByBroker(await connect(quick, "GET /healthz HTTP/1.1\r\nHost: x\r\n")),
    ]);
  });

  test("a connection that completed its HTTP/2 preface stays open, however long it is idle", async () => {
    const session = http2.connect(`http://127.0.0.1:${quick.server.port}`);
    session.on("error", () => {});
    try {
      await once(session, "connect");
      // A PING answered: the broker has read the preface and settings before it.
      await new Promise<void>((resolve, reject) => session.ping((error) => (error ? reject(error) : resolve())));
      // A silent socket opened after it is closed after it: had the session's deadline still
      // been armed, it would have fired first.
      await closedByBroker(await connect(quick));
      expect(session.closed || session.destroyed).toBe(false);
      await new Promise<void>((resolve, reject) => session.ping((error) => (error ? reject(error) : resolve())));
    } finally {
      session.destroy();
    }
  });

  test("the setting refuses bad values", () => {
    expect(() => loadConfig({ BATON_HANDSHAKE_TIMEOUT_SECONDS: "soon" })).toThrow(/BATON_HANDSHAKE_TIMEOUT_SECONDS must be a positive number of seconds, got "soon"/);
    expect(() => loadConfig({ BATON_HANDSHAKE_TIMEOUT_SECONDS: "0" })).toThrow(/BATON_HANDSHAKE_TIMEOUT_SECONDS must be a positive number of seconds, got "0"/);
  });
});

describe("connection limit (BATON_MAX_CONNECTIONS)", () => {
  test("at the limit, health checks are still answered (one request per connection); other requests are UNAVAILABLE", async () => {
    for (let i = 0; i < MAX_CONNECTIONS; i++) await connect(small);
    expect(await get(small, "/healthz")).toEqual({ status: 200, body: "ok\n", connection: "close" });
    // Liveness too: a broker at its limit is busy, not dead, and must not be restarted.
    expect((await get(small, "/livez")).status).toBe(200);
    const metrics = await get(small, "/metrics");
    expect([metrics.status, metrics.body]).toEqual([503, `this broker holds its limit of ${MAX_CONNECTIONS} connections (BATON_MAX_CONNECTIONS); retry later\n`]);
    const transport = createGrpcTransport({ baseUrl: small.baseUrl });
    expect((await createClient(Health, transport).check({})).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    const jobs = createClient(JobService, transport);
    const error = await jobs.getJob({ id: "1" }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConnectError);
    expect([Code[(error as ConnectError).code], (error as ConnectError).rawMessage]).toEqual([
      "Unavailable",
      `this broker holds its limit of ${MAX_CONNECTIONS} connections (BATON_MAX_CONNECTIONS); retry later`,
    ]);
    // Once connections close, new ones are served again.
    for (const socket of sockets.splice(0)) socket.destroy();
    await eventually(
      () =>
        jobs.getJob({ id: "1" }).then(
          () => true,
          (e: ConnectError) => e.code === Code.NotFound,
        ),
      { what: "GetJob to be served again" },
    );
  });

  test(`beyond the limit and ${OVERFLOW_CONNECTIONS} more for health probes, connections are closed at once`, async () => {
    for (let i = 0; i < MAX_CONNECTIONS + OVERFLOW_CONNECTIONS; i++) await connect(small);
    await closedByBroker(await connect(small));
  });

  test("the setting refuses bad values", () => {
    expect(() => loadConfig({ BATON_MAX_CONNECTIONS: "0" })).toThrow('BATON_MAX_CONNECTIONS must be an integer >= 1, got "0"');
    expect(() => loadConfig({ BATON_MAX_CONNECTIONS: "lots" })).toThrow('BATON_MAX_CONNECTIONS must be an integer >= 1, got "lots"');
  });
});
