import { createContextKey } from "@connectrpc/connect";
import type { EnqueueJobsStreamRequest } from "../../clients/ts/src/gen/baton/v1/job_pb.js";

/**
 * Checks one batch of an EnqueueJobsStream as a call is checked when it opens: set by the auth
 * interceptor (the token's rate limit, its queues, the jobs the batch names by id), so that a
 * stream is no way around them. Throws the refusal; without auth, admits every batch.
 */
export const admitStreamBatch = createContextKey<(request: EnqueueJobsStreamRequest) => Promise<void>>(() => Promise.resolve(), {
  description: "admits one batch of EnqueueJobsStream",
});
