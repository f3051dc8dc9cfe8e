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
  | "unimplemented";

export class BatonError extends Error {
  override readonly name = "BatonError";

  constructor(
    readonly code: BatonErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export const invalidArgument = (message: string) => new BatonError("invalid_argument", message);
export const notFound = (message: string) => new BatonError("not_found", message);
