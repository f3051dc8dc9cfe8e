import { Gauge, Registry } from "prom-client";
import type pg from "pg";

/** What the gauges read of one open worker stream of this replica. */
export interface StreamView {
  queues: readonly string[];
  /** Jobs leased to the stream and not yet settled. */
  held: { readonly size: number };
}

export interface ReplicaGaugeSources {
  /** This replica's connection pool. */
  pool: pg.Pool;
  /** This replica's open worker streams, read at each scrape. */
  streams: () => readonly StreamView[];
}

/**
 * Gauges of this replica's own resources, read when /metrics is scraped: its database pool and
 * its worker streams. Each replica reports its own, so sum() over replicas is the cluster's.
 */
export function replicaGauges({ pool, streams }: ReplicaGaugeSources): Registry {
  const registry = new Registry();
  new Gauge({
    name: "baton_db_pool_connections",
    help: "Connections of this replica's database pool, per state (idle, in_use).",
    labelNames: ["state"],
    registers: [registry],
    collect() {
      this.set({ state: "idle" }, pool.idleCount);
      this.set({ state: "in_use" }, pool.totalCount - pool.idleCount);
    },
  });
  new Gauge({
    name: "baton_db_pool_max_connections",
    help: "Most connections this replica's database pool opens.",
    registers: [registry],
    collect() {
      this.set(pool.options.max ?? 10);
    },
  });
  new Gauge({
    name: "baton_db_pool_waiting_requests",
    help: "Queries of this replica waiting for a free connection of its pool; above zero for long, the pool is too small.",
    registers: [registry],
    collect() {
      this.set(pool.waitingCount);
    },
  });
  new Gauge({
    name: "baton_replica_worker_streams",
    help: "Worker streams open on this replica, per queue they serve (a stream serving several queues counts in each).",
    labelNames: ["queue"],
    registers: [registry],
    collect() {
      this.reset();
      for (const [queue, count] of streamsPerQueue(streams())) this.set({ queue }, count);
    },
  });
  new Gauge({
    name: "baton_replica_jobs_in_flight",
    help: "Jobs leased to this replica's worker streams and not yet settled.",
    registers: [registry],
    collect() {
      this.set(streams().reduce((sum, stream) => sum + stream.held.size, 0));
    },
  });
  return registry;
}

function streamsPerQueue(streams: readonly StreamView[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const stream of streams) {
    for (const queue of stream.queues) counts.set(queue, (counts.get(queue) ?? 0) + 1);
  }
  return counts;
}
