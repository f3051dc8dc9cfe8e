import { createContextKey } from "@connectrpc/connect";

/**
 * Which queues the caller may see, set by the auth interceptor from its token's patterns. RPCs
 * that list across queues (ListWorkers) show only these; without auth, every queue.
 */
export const visibleQueues = createContextKey<(queue: string) => boolean>(() => true, { description: "queues the caller may see" });
