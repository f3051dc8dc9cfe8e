import type { StandardSchemaV1 } from "@standard-schema/spec";

/** Thrown by a handler: fails the job for good; it becomes DEAD now, with no further attempts. */
export class DeadLetterError extends Error {
  override name = "DeadLetterError";
}

/** Thrown by a handler: fails the attempt and retries no sooner than `retryAfterMs`, instead of the queue's backoff. */
export class RetryAfterError extends Error {
  override name = "RetryAfterError";

  constructor(
    message: string,
    readonly retryAfterMs: number,
  ) {
    super(message);
  }
}

/** A typed job's payload or result failed its schema; `issues` says how. */
export class InvalidPayloadError extends Error {
  override name = "InvalidPayloadError";

  constructor(
    message: string,
    readonly issues: ReadonlyArray<StandardSchemaV1.Issue>,
  ) {
    super(message);
  }
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
