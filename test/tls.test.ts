import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { once } from "node:events";
import https from "node:https";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import tls from "node:tls";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { JobService } from "../clients/ts/src/gen/baton/v1/job_service_pb.js";
import { WorkerService } from "../clients/ts/src/gen/baton/v1/worker_service_pb.js";
import { Health, HealthCheckResponse_ServingStatus } from "../clients/ts/src/gen/grpc/health/v1/health_pb.js";
import { loadConfig } from "../src/config.js";
import { freePort } from "../src/util/free-port.js";
import { type TestBroker, startTestBroker } from "./helpers/broker.js";
import { openStream } from "./helpers/stream.js";
import { eventually } from "./helpers/wait.js";

/**
 * TLS and mutual TLS on the broker's one port, with certificates made here by openssl: a CA,
 * a server certificate for 127.0.0.1, and a client certificate. And the plaintext monitoring
 * port beside a mutual-TLS one, for probes and scrapers that hold no certificate.
 */

let dir: string;
let tlsBroker: TestBroker;
let mtlsBroker: TestBroker;
const pem = (name: string) => readFileSync(path.join(dir, name));

function openssl(...args: string[]) {
  execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
}

/** A key and a certificate signed by the test CA, with the given extensions. */
function issue(name: string, subject: string, extensions: string) {
  writeFileSync(path.join(dir, `${name}.ext`), extensions);
  openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", subject);
  openssl("x509", "-req", "-in", `${name}.csr`, "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2", "-out", `${name}.crt`, "-extfile", `${name}.ext`);
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "baton-tls-"));
  openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=baton test CA");
  issue("server", "/CN=localhost", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
  issue("client", "/CN=worker", "extendedKeyUsage=clientAuth\n");
  const files = { certFile: path.join(dir, "server.crt"), keyFile: path.join(dir, "server.key") };
  // A short handshake timeout: connections that stall before or after the TLS handshake close soon.
  tlsBroker = await startTestBroker({ tls: files, connections: { handshakeTimeoutMs: 500, maxConnections: 1000 } });
  mtlsBroker = await startTestBroker({ tls: { ...files, clientCaFile: path.join(dir, "ca.crt") } }, tlsBroker.databaseUrl);
});

afterAll(async () => {
  await mtlsBroker?.stop();
  await tlsBroker?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const httpsUrl = (broker: TestBroker) => `https://127.0.0.1:${broker.server.port}`;

/** GET over HTTP/1.1 with TLS; resolves with the status and body. */
function httpsGet(url: string, options: https.RequestOptions): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    https
      .get(url, options, (res) => {
        let body = "";
        res.on("data", (chunk: Buffer) => (body += chunk.toString()));
        res.on("end", () => resolve({ status: res.statusCode!, body }));
      })
      .on("error", reject);
  });
}

describe("TLS", () => {
  test("gRPC over HTTP/2 (ALPN h2) works with the CA that issued the server certificate", async () => {
    const transport = createGrpcTransport({ baseUrl: httpsUrl(tlsBroker), nodeOptions: { ca: pem("ca.crt") } });
    const jobs = createClient(JobService, transport);
    const { job } = await jobs.enqueueJob({ queue: "tls" });
    expect((await jobs.getJob({ id: job!.id })).job!.queue).toBe("tls");
    const { status } = await createClient(Health, transport).check({});
    expect(status).toBe(HealthCheckResponse_ServingStatus.SERVING);
  });

  test("HTTP/1.1 (ALPN http/1.1) reaches /healthz and the Connect protocol on the same port", async () => {
    expect(await httpsGet(`${httpsUrl(tlsBroker)}/healthz`, { ca: pem("ca.crt") })).toEqual({ status: 200, body: "ok\n" });
    const transport = createConnectTransport({ baseUrl: httpsUrl(tlsBroker), httpVersion: "1.1", nodeOptions: { ca: pem("ca.crt") } });
    const { job } = await createClient(JobService, transport).enqueueJob({ queue: "tls-http1" });
    expect(job!.queue).toBe("tls-http1");
  });

  test("a plaintext (h2c) client gets no answer from a TLS port", async () => {
    const jobs = createClient(JobService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${tlsBroker.server.port}` }));
    const error = await jobs.enqueueJob({ queue: "tls" }, { timeoutMs: 5_000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectError);
  });

  test("a connection that stalls before its TLS handshake, or after it, is closed (BATON_HANDSHAKE_TIMEOUT_SECONDS)", async () => {
    const raw = net.connect(tlsBroker.server.port, "127.0.0.1");
    raw.on("error", () => {});
    raw.resume();
    const secure = tls.connect({ host: "127.0.0.1", port: tlsBroker.server.port, ca: pem("ca.crt"), ALPNProtocols: ["h2"] });
    secure.on("error", () => {});
    secure.resume();
    await once(secure, "secureConnect");
    await Promise.all([once(raw, "close"), once(secure, "close")]);
  });
});

describe("mutual TLS", () => {
  const withCert = () => ({ ca: pem("ca.crt"), cert: pem("client.crt"), key: pem("client.key") });

  test("a client presenting a certificate from the client CA enqueues and subscribes", async () => {
    const transport = createGrpcTransport({ baseUrl: httpsUrl(mtlsBroker), nodeOptions: withCert() });
    const { job } = await createClient(JobService, transport).enqueueJob({ queue: "mtls" });
    const stream = openStream(createClient(WorkerService, transport), { case: "hello", value: { workerId: "w", queues: ["mtls"], maxInFlight: 1 } });
    await stream.next("welcome");
    expect((await stream.next("job")).job!.id).toBe(job!.id);
    stream.abort();
    await stream.ended;
    expect(await httpsGet(`${httpsUrl(mtlsBroker)}/healthz`, withCert())).toEqual({ status: 200, body: "ok\n" });
  });

  test("a client without a certificate is refused, over HTTP/2 and HTTP/1.1", async () => {
    const transport = createGrpcTransport({ baseUrl: httpsUrl(mtlsBroker), nodeOptions: { ca: pem("ca.crt") } });
    const error = await createClient(JobService, transport)
      .enqueueJob({ queue: "mtls" }, { timeoutMs: 5_000 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectError);
    expect([Code.Unavailable, Code.Internal, Code.Unknown, Code.DeadlineExceeded]).toContain((error as ConnectError).code);
    await expect(httpsGet(`${httpsUrl(mtlsBroker)}/healthz`, { ca: pem("ca.crt") })).rejects.toThrow();
  });

  test("a certificate from another CA is refused", async () => {
    const other = mkdtempSync(path.join(tmpdir(), "baton-tls-other-"));
    try {
      execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "k", "-out", "c", "-days", "2", "-subj", "/CN=intruder"], { cwd: other, stdio: "pipe" });
      const options = { ca: pem("ca.crt"), cert: readFileSync(path.join(other, "c")), key: readFileSync(path.join(other, "k")) };
      await expect(httpsGet(`${httpsUrl(mtlsBroker)}/healthz`, options)).rejects.toThrow();
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });
});

describe("the monitoring port (BATON_MONITORING_PORT) beside a mutual-TLS port", () => {
  const withCert = () => ({ ca: pem("ca.crt"), cert: pem("client.crt"), key: pem("client.key") });
  let broker: TestBroker;
  let monitoringUrl: string;
  beforeAll(async () => {
    const monitoringPort = await freePort();
    monitoringUrl = `http://127.0.0.1:${monitoringPort}`;
    const files = { certFile: path.join(dir, "server.crt"), keyFile: path.join(dir, "server.key"), clientCaFile: path.join(dir, "ca.crt") };
    // A long drain, which the test below ends by letting go of its job.
    broker = await startTestBroker({ tls: files, monitoringPort, drainMs: 60_000 });
  });
  afterAll(() => broker?.stop());

  const healthOf = (service: string) =>
    createClient(Health, createGrpcTransport({ baseUrl: monitoringUrl }))
      .check({ service })
      .then((r) => HealthCheckResponse_ServingStatus[r.status]);
  const get = (pathname: string) => fetch(`${monitoringUrl}${pathname}`).then(async (r) => ({ status: r.status, body: await r.text() }));

  test("answers grpc.health.v1 over h2c and /healthz, /livez, /metrics over HTTP/1.1, in plaintext and without a client certificate", async () => {
    expect(await healthOf("")).toBe("SERVING");
    expect(await healthOf("liveness")).toBe("SERVING");
    expect(await get("/healthz")).toEqual({ status: 200, body: "ok\n" });
    expect(await get("/livez")).toEqual({ status: 200, body: "ok\n" });
    const metrics = await get("/metrics");
    expect(metrics.status).toBe(200);
    expect(metrics.body).toMatch(/^# (HELP|TYPE) baton_/m);
  });

  test("a malformed port, or the main port again, is refused", () => {
    expect(() => loadConfig({ BATON_MONITORING_PORT: "-1" })).toThrow('BATON_MONITORING_PORT must be an integer >= 0, got "-1"');
    expect(() => loadConfig({ BATON_MONITORING_PORT: "http" })).toThrow('BATON_MONITORING_PORT must be an integer >= 0, got "http"');
    expect(() => loadConfig({ BATON_MONITORING_PORT: "7600" })).toThrow("BATON_MONITORING_PORT (7600) must differ from BATON_PORT");
    expect(loadConfig({ BATON_MONITORING_PORT: "0" }).monitoringPort).toBeUndefined();
  });

  test("serves nothing else: no dashboard, no API", async () => {
    expect((await get("/ui/")).status).toBe(404);
    const jobs = createClient(JobService, createGrpcTransport({ baseUrl: monitoringUrl }));
    const error = await jobs.enqueueJob({ queue: "monitoring" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.Unimplemented);
  });

  test("while the broker drains, readiness turns NOT_SERVING (503) there and liveness stays SERVING", async () => {
    // A worker holding a job keeps the drain going until it lets go.
    const transport = createGrpcTransport({ baseUrl: httpsUrl(broker), nodeOptions: withCert() });
    const { job } = await createClient(JobService, transport).enqueueJob({ queue: "monitoring" });
    const stream = openStream(createClient(WorkerService, transport), { case: "hello", value: { workerId: "w", queues: ["monitoring"], maxInFlight: 1 } });
    await stream.next("welcome");
    expect((await stream.next("job")).job!.id).toBe(job!.id);
    const stopped = broker.stop();
    await eventually(async () => (await get("/healthz")).status === 503, { what: "/healthz on the monitoring port to answer 503" });
    expect(await healthOf("")).toBe("NOT_SERVING");
    expect(await healthOf("liveness")).toBe("SERVING");
    expect(await get("/livez")).toEqual({ status: 200, body: "ok\n" });
    stream.abort();
    await stopped;
  });
});
