import { type Client, type Transport, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { type ServerConfig, loadConfig } from "../../src/config.js";
import { JobService } from "../../clients/ts/src/gen/baton/v1/job_service_pb.js";
import { WorkerService } from "../../clients/ts/src/gen/baton/v1/worker_service_pb.js";
import { type RunningServer, startServer } from "../../src/server/server.js";
import { type LogLevel, createLogger } from "../../src/util/log.js";
import { afterAll, beforeAll } from "vitest";
import { type Worker as BatonWorker, createClient as createBatonClient } from "../../clients/ts/src/index.js";
import { createTestDatabase } from "./database.js";

type BatonClient = ReturnType<typeof createBatonClient>;
import { type TestProcess, killAll } from "./process.js";

export interface TestBroker {
  server: RunningServer;
  databaseUrl: string;
  baseUrl: string;
  jobs: Client<typeof JobService>;
  workers: Client<typeof WorkerService>;
  stop(): Promise<void>;
}

export type BrokerOverrides = Partial<Omit<ServerConfig, "broker">> & { broker?: Partial<ServerConfig["broker"]> };

/** A broker on port 0 over a fresh database (or the given one, for several replicas). */
export async function startTestBroker(overrides: BrokerOverrides = {}, databaseUrl?: string): Promise<TestBroker> {
  const url = databaseUrl ?? (await createTestDatabase());
  const defaults = loadConfig({});
  const config: ServerConfig & { databaseUrl: string } = {
    ...defaults,
    port: 0,
    host: "127.0.0.1",
    drainMs: 2_000,
    ...overrides,
    databaseUrl: url,
    broker: { ...defaults.broker, ...overrides.broker },
  };
  // TEST_LOG_LEVEL=debug shows what the brokers of a failing test did.
  const level = (process.env.TEST_LOG_LEVEL as LogLevel | undefined) ?? "error";
  const server = await startServer(config, createLogger({ test: true }, level));
  const baseUrl = `http://127.0.0.1:${server.port}`;
  const transport = createGrpcTransport({ baseUrl });
  return {
    server,
    databaseUrl: url,
    baseUrl,
    jobs: createClient(JobService, transport),
    workers: createClient(WorkerService, transport),
    stop: () => server.stop(),
  };
}

/**
 * For a file whose tests run processes against one broker: the broker starts before the file's
 * tests; after them the processes pushed on `processes` are killed, then the broker stops. Read
 * `broker` inside tests (it is set by then).
 */
export function useTestBroker(overrides: BrokerOverrides = {}): { readonly broker: TestBroker; readonly processes: TestProcess[] } {
  let broker: TestBroker | undefined;
  const processes: TestProcess[] = [];
  beforeAll(async () => {
    broker = await startTestBroker(overrides);
  });
  afterAll(async () => {
    await killAll(processes);
    await broker?.stop();
  });
  return {
    get broker() {
      if (!broker) throw new Error("the test broker is started in beforeAll; use it inside tests");
      return broker;
    },
    processes,
  };
}

/** `count` brokers on one fresh database: replicas, as in a multi-replica deployment. */
export async function startReplicas(count: number, overrides: BrokerOverrides = {}): Promise<TestBroker[]> {
  const first = await startTestBroker(overrides);
  const others = await Promise.all(Array.from({ length: count - 1 }, () => startTestBroker(overrides, first.databaseUrl)));
  return [first, ...others];
}

/** Stops brokers, last started first. */
export async function stopAll(brokers: TestBroker[]): Promise<void> {
  for (const broker of [...brokers].reverse()) await broker?.stop();
}

/** A gRPC transport to `baseUrl` that sends `secret` as the bearer token of every call. */
export function bearerTransport(baseUrl: string, secret: string): Transport {
  return createGrpcTransport({
    baseUrl,
    interceptors: [
      (next) => (req) => {
        req.header.set("authorization", `Bearer ${secret}`);
        return next(req);
      },
    ],
  });
}

/**
 * For tests of the TypeScript client: a broker and a client of it, handed to `ready` before the
 * file's tests; after them the workers pushed on the returned list stop, the client closes and
 * the broker stops.
 */
export function useClientBroker(ready: (broker: TestBroker, client: BatonClient) => void): BatonWorker[] {
  const workers: BatonWorker[] = [];
  let broker: TestBroker | undefined;
  let client: BatonClient | undefined;
  beforeAll(async () => {
    broker = await startTestBroker();
    client = createBatonClient({ baseUrl: broker.baseUrl });
    ready(broker, client);
  });
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop()));
    client?.close();
    await broker?.stop();
  });
  return workers;
}
