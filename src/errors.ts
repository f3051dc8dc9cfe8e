/**
 * Domain errors. Modules below the API throw these; `api/error-mapping.ts` turns them into
 * Connect codes in exactly one place, so a new code is added here and mapped there.
 */
export type BatonErrorCode =
  | "invalid_argument"
  | "not_found"
  | "already_exists"
  | "failed_precondition"
  | "resource_exhausted"
  | "unauthenticated"
  | "permission_denied"
  | "unavailable"
  | "deadline_exceeded"
  | "aborted"
  | "unimplemented";

export interface BatonErrorOptions extends ErrorOptions {
  /**
   * When a retry may succeed: sent to the client as a google.rpc.RetryInfo detail besides the
   * message's "retry in …", so that clients need not parse prose.
   */
  retryAfterMs?: number;
}

export class BatonError extends Error {
  override readonly name = "BatonError";
  readonly retryAfterMs: number | undefined;

  constructor(
    readonly code: BatonErrorCode,
    message: string,
    options?: BatonErrorOptions,
  ) {
    super(message, options);
    this.retryAfterMs = options?.retryAfterMs;
  }
}

/**
 * The database is known to be unreachable, so the request fails at once instead of waiting out
 * the timeouts. The outage is logged once when it starts and once when it ends; loggers report
 * these errors at debug level, so a loop tick or a request during the outage adds no line.
 */
export class DatabaseUnreachableError extends BatonError {
  constructor(retryAfterMs: number) {
    super("unavailable", `database unreachable; retry in ${Math.max(1, Math.ceil(retryAfterMs / 1000))} s`, { retryAfterMs });
  }
}

export const invalidArgument = (message: string) => new BatonError("invalid_argument", message);
export const notFound = (message: string) => new BatonError("not_found", message);
