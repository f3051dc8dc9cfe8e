import type { ChildProcess } from "node:child_process";
import { exited, forkTs, terminate } from "./children.js";
import { type BenchQueues, type FromWorker, PHASES, type PerPhase, type Phase, type ToWorker, type WorkerSpec, perPhase } from "./protocol.js";

/**
 * The worker processes of one system, seen as one: their per-phase job counts summed and their
 * latency samples pooled per phase.
 */
export class WorkerPool {
  private readonly processes: ChildProcess[] = [];
  private readonly handledBy = new Map<ChildProcess, PerPhase<number>>();
  private readonly latencySamples = perPhase((): number[] => []);
  private failure: Error | undefined;
  private readonly stopping = new Set<ChildProcess>();

  static async start(spec: WorkerSpec, queues: BenchQueues, count: number): Promise<WorkerPool> {
    const pool = new WorkerPool();
    try {
      await Promise.all(Array.from({ length: count }, () => pool.spawn(spec, queues)));
    } catch (error) {
      await pool.kill();
      throw error;
    }
    return pool;
  }

  /** Jobs of `phase` handled so far, by all processes (a job run twice counts twice). */
  handled(phase: Phase): number {
    let sum = 0;
    for (const counts of this.handledBy.values()) sum += counts[phase];
    return sum;
  }

  /** Enqueue→handler-start latencies (ms) of `phase` reported so far, in arrival order. */
  latencies(phase: Phase): readonly number[] {
    return this.latencySamples[phase];
  }

  /** Every process starts consuming. */
  go(): void {
    for (const child of this.processes) this.send(child, { type: "go" });
  }

  /** Resolves when `predicate` holds (checked every few milliseconds); rejects after `timeoutMs`. */
  async until(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (this.failure) throw this.failure;
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  /** Graceful stop of every process; final counts are in once this resolves. */
  async stop(): Promise<void> {
    await Promise.all(
      this.processes.map(async (child) => {
        const stopped = new Promise<void>((resolve) => child.on("message", (m: FromWorker) => m.type === "stopped" && resolve()));
        this.send(child, { type: "stop" });
        const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
        await Promise.race([stopped, exited(child)]);
        await exited(child);
        clearTimeout(timer);
      }),
    );
  }

  /** Immediate stop, for error paths. */
  async kill(): Promise<void> {
    await Promise.all(this.processes.map((child) => terminate(child, "SIGKILL", 0)));
  }

  private async spawn(spec: WorkerSpec, queues: BenchQueues): Promise<void> {
    const child = forkTs("./worker-process.ts");
    this.processes.push(child);
    this.handledBy.set(child, perPhase(() => 0));
    const ready = new Promise<void>((resolve, reject) => {
      child.on("message", (message: FromWorker) => {
        switch (message.type) {
          case "ready":
            resolve();
            break;
          case "progress":
          case "stopped":
            this.handledBy.set(child, message.handled);
            for (const phase of PHASES) this.latencySamples[phase].push(...message.latencies[phase]);
            break;
          case "failed":
            this.failure ??= new Error(`worker process ${child.pid} failed: ${message.message}`);
            reject(this.failure);
            break;
        }
      });
      child.once("exit", (code, signal) => {
        const error = new Error(`worker process ${child.pid} exited (code ${code}, signal ${signal})`);
        reject(error);
        // An exit before "stop" was asked for is a failure of the run.
        if (!this.stopping.has(child)) this.failure ??= error;
      });
    });
    this.send(child, { type: "init", spec, queues });
    await ready;
  }

  private send(child: ChildProcess, message: ToWorker): void {
    if (message.type === "stop") this.stopping.add(child);
    if (child.connected) child.send(message);
  }
}
