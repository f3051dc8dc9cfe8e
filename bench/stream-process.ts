/**
 * A process holding many Baton worker streams at once, for the broker-scale checks of the bench
 * (bench/extras.ts): `workers` runWorker instances, each with its own transport (its own HTTP/2
 * connection and Subscribe stream) and `concurrency` as max_in_flight. In "hold" mode handlers
 * never return, so every delivered job stays in flight; otherwise they return at once.
 * Reports to the bench process over IPC every 20 ms.
 */
import { runWorker } from "../clients/ts/src/index.js";

export type ToStreams = { type: "start"; baseUrl: string; queue: string; workers: number; concurrency: number; hold: boolean } | { type: "stop" };
export type FromStreams =
  | { type: "progress"; handled: number; workersWithJobs: number; errors: number; lastError?: string }
  | { type: "stopped"; handled: number; workersWithJobs: number; errors: number; lastError?: string };

let handled = 0;
let errors = 0;
let lastError: string | undefined;
const workersWithJobs = new Set<number>();
const workers: { stop(): Promise<void> }[] = [];
const report = (type: "progress" | "stopped", sent?: () => void) =>
  process.send?.({ type, handled, workersWithJobs: workersWithJobs.size, errors, lastError } satisfies FromStreams, undefined, {}, () => sent?.());
const reporter = setInterval(() => report("progress"), 20);
const never = new Promise<undefined>(() => {});

process.on("message", (message: ToStreams) => {
  if (message.type === "start") {
    for (let w = 0; w < message.workers; w++) {
      workers.push(
        runWorker({
          baseUrl: message.baseUrl,
          queues: [message.queue],
          concurrency: message.concurrency,
          workerId: `bench-streams-${process.pid}-${w}`,
          handler: () => {
            handled += 1;
            workersWithJobs.add(w);
            return message.hold ? never : undefined;
          },
          onError: (error) => {
            errors += 1;
            lastError = error instanceof Error ? error.message : String(error);
          },
        }),
      );
    }
  } else {
    void Promise.all(workers.map((w) => w.stop())).finally(() => {
      clearInterval(reporter);
      report("stopped", () => process.disconnect());
    });
  }
});

process.on("disconnect", () => process.exit(0));
