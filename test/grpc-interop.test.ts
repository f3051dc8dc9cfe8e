/* eslint-disable @typescript-eslint/no-explicit-any -- clients built from proto/ at run time have no static types, which is the point of this test. */
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { afterAll, beforeAll, expect, test } from "vitest";
import { type TestBroker, startTestBroker } from "./helpers/broker.js";

/**
 * Drives the broker with a stock gRPC stack that knows nothing but proto/: what a Go, Python
 * or Java worker does.
 */
let broker: TestBroker;
let jobService: grpc.Client & Record<string, any>;
let workerService: grpc.Client & Record<string, any>;
let health: grpc.Client & Record<string, any>;

beforeAll(async () => {
  broker = await startTestBroker();
  const definition = protoLoader.loadSync(
    ["baton/v1/job_service.proto", "baton/v1/worker_service.proto", "grpc/health/v1/health.proto"],
    { includeDirs: ["proto"], keepCase: false, longs: String, enums: String, defaults: true, oneofs: true },
  );
  const loaded = grpc.loadPackageDefinition(definition) as any;
  const address = broker.baseUrl.replace("http://", "");
  const credentials = grpc.credentials.createInsecure();
  jobService = new loaded.baton.v1.JobService(address, credentials);
  workerService = new loaded.baton.v1.WorkerService(address, credentials);
  health = new loaded.grpc.health.v1.Health(address, credentials);
});

afterAll(async () => {
  for (const client of [jobService, workerService, health]) client.close();
  await broker.stop();
});

const unary = <T>(client: Record<string, any>, method: string, request: object) =>
  new Promise<T>((resolve, reject) =>
    client[method]!(request, (error: grpc.ServiceError | null, response: T) => (error ? reject(error) : resolve(response))),
  );

test("grpc-js loading proto/ at run time enqueues, subscribes and acks", async () => {
  const { status } = await unary<{ status: string }>(health, "check", { service: "" });
  expect(status).toBe("SERVING");

  const { job } = await unary<{ job: { id: string; state: string } }>(jobService, "enqueueJob", {
    queue: "interop",
    payload: Buffer.from("from grpc-js"),
  });
  expect(job.state).toBe("JOB_STATE_AVAILABLE");

  const call = workerService.subscribe() as grpc.ClientDuplexStream<object, any>;
  const responses: any[] = [];
  const next = (kind: string) =>
    new Promise<any>((resolve, reject) => {
      const found = responses.find((r) => r[kind]);
      if (found) return resolve(found[kind]);
      const onData = (response: any) => {
        if (response[kind]) {
          call.off("data", onData);
          resolve(response[kind]);
        }
      };
      call.on("data", onData);
      call.once("error", reject);
    });
  call.on("data", (response) => responses.push(response));
  call.write({ hello: { workerId: "grpc-js", queues: ["interop"], maxInFlight: 1 } });

  const welcome = await next("welcome");
  expect(welcome.sessionId).not.toBe("");
  const delivery = await next("job");
  expect(delivery.job.id).toBe(job.id);
  expect(Buffer.from(delivery.job.payload).toString()).toBe("from grpc-js");

  call.write({ ack: { jobId: job.id, leaseToken: delivery.leaseToken, result: Buffer.from("ok") } });
  const settled = await next("settled");
  expect(settled).toMatchObject({ jobId: job.id, ok: true });
  call.end();

  const { job: finished } = await unary<{ job: { state: string; result: Buffer; attempt: number } }>(jobService, "getJob", { id: job.id });
  expect(finished.state).toBe("JOB_STATE_SUCCEEDED");
  expect(Buffer.from(finished.result).toString()).toBe("ok");
  expect(finished.attempt).toBe(1);
});
