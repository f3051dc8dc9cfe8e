/**
 * Responses go uncompressed unless BATON_COMPRESS_MIN_BYTES says otherwise, even to a client
 * that accepts gzip: between a broker and its workers gzip costs more CPU than it saves.
 * Checked on the wire: the compressed flag of the response message's gRPC frame.
 */
import http2 from "node:http2";
import { create, toBinary } from "@bufbuild/protobuf";
import { afterAll, expect, test } from "vitest";
import { GetJobRequestSchema } from "../clients/ts/src/gen/baton/v1/job_pb.js";
import { type TestBroker, startTestBroker } from "./helpers/broker.js";

const brokers: TestBroker[] = [];

afterAll(async () => {
  await Promise.all(brokers.map((broker) => broker.stop()));
});

/** GetJob of a 16 KiB job as a client that accepts gzip: the frame's compressed flag. */
async function responseCompressed(compressMinBytes: number): Promise<boolean> {
  const broker = await startTestBroker({ compressMinBytes });
  brokers.push(broker);
  const { job } = await broker.jobs.enqueueJob({ queue: "compression", payload: Buffer.alloc(16 * 1024, "a") });
  const message = toBinary(GetJobRequestSchema, create(GetJobRequestSchema, { id: job!.id }));
  const frame = Buffer.alloc(5 + message.byteLength);
  frame.writeUInt32BE(message.byteLength, 1);
  frame.set(message, 5);
  const session = http2.connect(broker.baseUrl);
  try {
    const request = session.request({
      ":method": "POST",
      ":path": "/baton.v1.JobService/GetJob",
      "content-type": "application/grpc",
      te: "trailers",
      "grpc-accept-encoding": "gzip",
    });
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    const ended = new Promise((resolve, reject) => request.on("end", resolve).on("error", reject));
    request.end(frame);
    await ended;
    const response = Buffer.concat(chunks);
    expect(response.byteLength).toBeGreaterThan(5);
    return response[0] === 1;
  } finally {
    session.close();
  }
}

test("a response is not compressed by default, even for a client that accepts gzip", async () => {
  expect(await responseCompressed(0)).toBe(false);
});

test("with BATON_COMPRESS_MIN_BYTES, a larger response is gzipped for a client that accepts it", async () => {
  expect(await responseCompressed(1024)).toBe(true);
});
