import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { type Health, HealthCheckResponseSchema, HealthCheckResponse_ServingStatus } from "../gen/grpc/health/v1/health_pb.js";

/** Serving state shared by the gRPC health service and /healthz. */
export class HealthState {
  serving = false;
}

/**
 * grpc.health.v1.Health: SERVING while the broker accepts work, NOT_SERVING while it starts
 * or drains, so load balancers and Kubernetes probes route around a stopping replica.
 */
export function createHealthService(state: HealthState): Partial<ServiceImpl<typeof Health>> {
  const status = () =>
    create(HealthCheckResponseSchema, {
      status: state.serving ? HealthCheckResponse_ServingStatus.SERVING : HealthCheckResponse_ServingStatus.NOT_SERVING,
    });
  return {
    check: async () => status(),
    async *watch(_request, context) {
      let last: HealthCheckResponse_ServingStatus | undefined;
      while (!context.signal.aborted) {
        const current = status();
        if (current.status !== last) yield current;
        last = current.status;
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    },
  };
}
