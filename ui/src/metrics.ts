// Throughput and failure rate per queue, computed in the browser: the broker keeps no time
// series, so every ListQueues poll is a sample of the per-state counts and the sparklines plot
// the differences between consecutive samples. They start empty when the page opens, and a
// retention sweep (which deletes finished rows, lowering the counts) reads as zero for that
// interval rather than as a negative rate.
import type { Queue } from "../../clients/ts/src/gen/baton/v1/queue_service_pb.js";

/** Samples kept per queue: two minutes at the queues poll interval. */
export const HISTORY_SAMPLES = 60;

interface Sample {
  atMs: number;
  succeeded: number;
  dead: number;
  cancelled: number;
}

export interface QueueRates {
  /** Jobs finished (succeeded, dead or cancelled) per second, one point per interval. */
  throughput: number[];
  /** Dead / (succeeded + dead) per interval, 0..1; 0 where nothing finished. */
  failureRate: number[];
}

export class QueueHistory {
  private readonly samples = new Map<string, Sample[]>();

  record(queues: readonly Queue[], atMs: number): void {
    for (const queue of queues) {
      const list = this.samples.get(queue.name) ?? [];
      list.push({ atMs, succeeded: Number(queue.succeeded), dead: Number(queue.dead), cancelled: Number(queue.cancelled) });
      if (list.length > HISTORY_SAMPLES + 1) list.splice(0, list.length - HISTORY_SAMPLES - 1);
      this.samples.set(queue.name, list);
    }
  }

  rates(queue: string): QueueRates {
    const list = this.samples.get(queue) ?? [];
    const throughput: number[] = [];
    const failureRate: number[] = [];
    for (let i = 1; i < list.length; i++) {
      const a = list[i - 1]!;
      const b = list[i]!;
      const seconds = Math.max((b.atMs - a.atMs) / 1000, 0.001);
      const succeeded = Math.max(b.succeeded - a.succeeded, 0);
      const dead = Math.max(b.dead - a.dead, 0);
      const cancelled = Math.max(b.cancelled - a.cancelled, 0);
      throughput.push((succeeded + dead + cancelled) / seconds);
      failureRate.push(succeeded + dead === 0 ? 0 : dead / (succeeded + dead));
    }
    return { throughput, failureRate };
  }
}
