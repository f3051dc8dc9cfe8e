/**
 * A Subscribe stream spoken by hand over node:http2, for tests that need what no client
 * library does: a consumer that stops reading, or floods requests.
 */
import http2 from "node:http2";
import { type MessageInitShape, create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { SubscribeRequestSchema, type SubscribeResponse, SubscribeResponseSchema } from "../../clients/ts/src/gen/baton/v1/worker_service_pb.js";

export type RequestMessage = MessageInitShape<typeof SubscribeRequestSchema>["message"];

/** One gRPC length-prefixed message. */
export function frame(message: RequestMessage): Buffer {
  const body = toBinary(SubscribeRequestSchema, create(SubscribeRequestSchema, { message }));
  const bytes = Buffer.alloc(5 + body.length);
  bytes.writeUInt32BE(body.length, 1);
  bytes.set(body, 5);
  return bytes;
}

/**
 * A Subscribe stream over a bare HTTP/2 connection whose reading the test controls: until
 * read() is called, nothing is read, and a tiny flow-control window soon stops the broker
 * from writing at all.
 */
export function rawSubscribe(baseUrl: string) {
  const session = http2.connect(baseUrl, { settings: { initialWindowSize: 1024 } });
  session.on("error", () => {});
  const stream = session.request({
    ":method": "POST",
    ":path": "/baton.v1.WorkerService/Subscribe",
    "content-type": "application/grpc",
    te: "trailers",
  });
  stream.on("error", () => {});
  stream.pause();
  const received: SubscribeResponse[] = [];
  let buffer = Buffer.alloc(0);
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    while (buffer.length >= 5 && buffer.length >= 5 + buffer.readUInt32BE(1)) {
      const length = buffer.readUInt32BE(1);
      received.push(fromBinary(SubscribeResponseSchema, buffer.subarray(5, 5 + length)));
      buffer = buffer.subarray(5 + length);
    }
    for (const listener of listeners) listener();
  };
  return {
    received,
    send(message: RequestMessage) {
      if (!stream.closed && !stream.destroyed) stream.write(frame(message));
    },
    /** Writes raw bytes; resolves when HTTP/2 has sent them (flow control permitting). */
    write(bytes: Buffer): Promise<void> {
      return new Promise((resolve) => stream.write(bytes, () => resolve()));
    },
    read() {
      stream.on("data", onData);
      stream.resume();
    },
    until(match: (r: SubscribeResponse) => boolean, n: number): Promise<SubscribeResponse[]> {
      return new Promise((resolve) => {
        const check = () => {
          const found = received.filter(match);
          if (found.length >= n) {
            listeners.delete(check);
            resolve(found.slice(0, n));
          }
        };
        listeners.add(check);
        check();
      });
    },
    /** Ends the stream and the connection at once (a consumer that never reads would never drain). */
    close() {
      if (!stream.destroyed) stream.destroy();
      if (!session.destroyed) session.destroy();
    },
  };
}
