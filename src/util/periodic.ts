import type { Logger } from "./log.js";

export interface Periodic {
  stop(): Promise<void>;
}

/**
 * Runs `task` every `intervalMs`, jittered by ±`jitter` (a fraction) so replicas started
 * together spread out. A run never overlaps the previous one, and a failing run is logged
 * and retried next time: background loops must survive their own failures.
 */
export function startPeriodic(name: string, intervalMs: number, jitter: number, log: Logger, task: () => Promise<void>): Periodic {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;
  const schedule = () => {
    if (stopped) return;
    const delay = intervalMs * (1 + jitter * (2 * Math.random() - 1));
    timer = setTimeout(() => {
      running = task()
        .catch((error) => log.warn(`${name} failed`, { error }))
        .finally(() => {
          running = undefined;
          schedule();
        });
    }, delay);
  };
  schedule();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
