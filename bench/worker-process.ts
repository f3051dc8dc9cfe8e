/**
 * A worker process of the bench: consumes the queues of every phase of one system with a no-op
 * handler and reports to the bench process over IPC. It counts the jobs of each phase; for jobs
 * whose payload carries an enqueue time (latency and mixed load) it also reports Date.now()
 * minus that time, taken when the handler starts. Reports are batched every few milliseconds so
 * that reporting does not cost more than the jobs.
 */
import { type BenchQueues, type FromWorker, type OnJob, type ToWorker, type WorkerHandle, type WorkerSpec, perPhase } from "./protocol.js";

const REPORT_INTERVAL_MS = 20;

const handled = perPhase(() => 0);
let latencies = perPhase((): number[] => []);
let changed = false;
let init: { spec: WorkerSpec; queues: BenchQueues } | undefined;
let handle: Promise<WorkerHandle> | undefined;

const send = (message: FromWorker, sent?: () => void) => process.send?.(message, undefined, {}, () => sent?.());

const onJob: OnJob = (phase, payload) => {
  handled[phase] += 1;
  if (payload.t !== undefined) latencies[phase].push(Date.now() - payload.t);
  changed = true;
};

const flush = (type: "progress" | "stopped", sent?: () => void) => {
  // A copy: the counts go on changing while the message waits to be written.
  send({ type, handled: { ...handled }, latencies }, sent);
  latencies = perPhase(() => []);
  changed = false;
};

const reporter = setInterval(() => changed && flush("progress"), REPORT_INTERVAL_MS);

async function startWorker(spec: WorkerSpec, queues: BenchQueues): Promise<WorkerHandle> {
  switch (spec.system) {
    case "baton":
      return (await import("./systems/baton.js")).startBatonWorker(spec, queues, onJob);
    case "graphile":
      return (await import("./systems/graphile.js")).startGraphileWorker(spec, queues, onJob);
    case "pgboss":
      return (await import("./systems/pgboss.js")).startPgBossWorker(spec, queues, onJob);
  }
}

/** Loads the system's module ahead of "go", so that module loading is not timed. */
async function preload(spec: WorkerSpec): Promise<void> {
  if (spec.system === "baton") await import("./systems/baton.js");
  else if (spec.system === "graphile") await import("./systems/graphile.js");
  else await import("./systems/pgboss.js");
}

const fail = (error: unknown) => {
  send({ type: "failed", message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  setTimeout(() => process.exit(1), 100);
};

process.on("message", (message: ToWorker) => {
  switch (message.type) {
    case "init":
      init = { spec: message.spec, queues: message.queues };
      preload(message.spec).then(() => send({ type: "ready" }), fail);
      return;
    case "go":
      handle = startWorker(init!.spec, init!.queues);
      handle.catch(fail);
      return;
    case "stop":
      void (async () => {
        try {
          await (await handle)?.stop();
        } catch (error) {
          fail(error);
          return;
        }
        clearInterval(reporter);
        // Leave only once the final counts are on their way.
        flush("stopped", () => process.disconnect());
      })();
      return;
  }
});

// The bench process is gone (crashed or killed): nobody will stop us, so stop now.
process.on("disconnect", () => process.exit(0));
