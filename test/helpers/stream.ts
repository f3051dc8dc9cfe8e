import { type MessageInitShape, create } from "@bufbuild/protobuf";
import type { Client } from "@connectrpc/connect";
import {
  type SubscribeRequest,
  SubscribeRequestSchema,
  type SubscribeResponse,
  type WorkerService,
} from "../../clients/ts/src/gen/baton/v1/worker_service_pb.js";
import { AsyncQueue } from "../../src/util/async-queue.js";

type Message = MessageInitShape<typeof SubscribeRequestSchema>["message"];
type ResponseCase = NonNullable<SubscribeResponse["message"]["case"]>;
type ResponseOf<C extends ResponseCase> = Extract<SubscribeResponse["message"], { case: C }>["value"];

/** A raw Subscribe stream driven message by message, for protocol-level tests. */
export interface TestStream {
  send(message: Message): void;
  /** The next response of this kind; others before it are skipped (pings) or kept (see all). */
  next<C extends ResponseCase>(kind: C): Promise<ResponseOf<C>>;
  /** Every response received so far. */
  readonly received: SubscribeResponse[];
  /** Resolves with the error that ended the stream, or undefined on a clean end. */
  readonly ended: Promise<unknown>;
  /** Ends the request side cleanly, as a worker that stops. */
  close(): void;
  /** Cancels the call, as a worker whose connection broke. */
  abort(): void;
}

export function openStream(workers: Client<typeof WorkerService>, first?: Message): TestStream {
  const requests = new AsyncQueue<SubscribeRequest>();
  const cancel = new AbortController();
  const received: SubscribeResponse[] = [];
  const waiters: { kind: ResponseCase; resolve(value: unknown): void; reject(error: unknown): void }[] = [];
  let cursor = 0;
  let failure: unknown;
  let done = false;
  const deliver = () => {
    for (let i = 0; i < waiters.length; ) {
      const waiter = waiters[i]!;
      const index = received.findIndex((r, j) => j >= cursor && r.message.case === waiter.kind);
      if (index >= 0) {
        cursor = index + 1;
        waiters.splice(i, 1);
        waiter.resolve(received[index]!.message.value);
      } else if (done) {
        waiters.splice(i, 1);
        waiter.reject(failure ?? new Error(`stream ended before ${waiter.kind}`));
      } else i++;
    }
  };
  const ended = (async () => {
    try {
      for await (const response of workers.subscribe(requests, { signal: cancel.signal })) {
        received.push(response);
        deliver();
      }
    } catch (error) {
      failure = error;
    } finally {
      done = true;
      deliver();
    }
    return failure;
  })();
  const stream: TestStream = {
    send: (message) => requests.push(create(SubscribeRequestSchema, { message })),
    next: (kind) =>
      new Promise((resolve, reject) => {
        waiters.push({ kind, resolve: resolve, reject });
        deliver();
      }),
    received,
    ended,
    close: () => requests.end(),
    abort: () => cancel.abort(),
  };
  if (first) stream.send(first);
  return stream;
}
