import { Counter, Gauge, Histogram, Registry } from "prom-client";

/** An RPC as the metrics name it: the fully qualified service and the method. */
export interface RpcName {
  service: string;
  method: string;
}

/**
 * The RPCs this replica served, after the pattern of grpc-prometheus: calls started, calls
 * handled by status code, calls open now (streams mostly) and, for unary calls, how long they
 * took. Per replica: sum() over replicas.
 */
export class RpcMetrics {
  readonly registry = new Registry();
  private readonly startedTotal = new Counter({
    name: "baton_rpc_started_total",
    help: "RPCs this replica started, per service and method.",
    labelNames: ["service", "method"],
    registers: [this.registry],
  });
  private readonly handledTotal = new Counter({
    name: "baton_rpc_handled_total",
    help: "RPCs this replica finished, per service, method and status code (ok, or the Connect code, e.g. invalid_argument).",
    labelNames: ["service", "method", "code"],
    registers: [this.registry],
  });
  private readonly inFlight = new Gauge({
    name: "baton_rpc_in_flight",
    help: "RPCs open on this replica now, per service and method: mostly worker and producer streams.",
    labelNames: ["service", "method"],
    registers: [this.registry],
  });
  private readonly unaryDuration = new Histogram({
    name: "baton_rpc_duration_seconds",
    help: "How long unary RPCs took on this replica, from request to response, per service and method.",
    labelNames: ["service", "method"],
    registers: [this.registry],
  });

  started(rpc: RpcName): void {
    this.startedTotal.inc({ ...rpc });
    this.inFlight.inc({ ...rpc });
  }

  /** `seconds` only for unary calls: a stream's duration is how long its client stayed. */
  handled(rpc: RpcName, code: string, seconds?: number): void {
    this.handledTotal.inc({ ...rpc, code });
    this.inFlight.dec({ ...rpc });
    if (seconds !== undefined) this.unaryDuration.observe({ ...rpc }, seconds);
  }
}
