import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { BatonError, type BatonErrorCode } from "../errors.js";
import type { Logger } from "../telemetry/log.js";

const codes: Record<BatonErrorCode, Code> = {
  invalid_argument: Code.InvalidArgument,
  not_found: Code.NotFound,
  already_exists: Code.AlreadyExists,
  failed_precondition: Code.FailedPrecondition,
  resource_exhausted: Code.ResourceExhausted,
  unauthenticated: Code.Unauthenticated,
  permission_denied: Code.PermissionDenied,
  unavailable: Code.Unavailable,
  deadline_exceeded: Code.DeadlineExceeded,
  unimplemented: Code.Unimplemented,
};

/**
 * The one place where errors become Connect codes. Domain errors keep their message (the store
 * turns an unreachable or timed-out database into one); anything else (a bug) is logged with
 * its cause and answered with a generic message, so SQL text never reaches a client.
 */
export function toConnectError(error: unknown, log: Logger): ConnectError {
  if (error instanceof ConnectError) return error;
  if (error instanceof BatonError) return new ConnectError(error.message, codes[error.code]);
  log.error("request failed", { error });
  return new ConnectError("internal error", Code.Internal);
}

export function errorMappingInterceptor(log: Logger): Interceptor {
  return (next) => async (request) => {
    try {
      return await next(request);
    } catch (error) {
      throw toConnectError(error, log);
    }
  };
}

/** Interceptors see a stream only until its first message; errors thrown later are mapped here. */
export async function* mapStreamErrors<T>(stream: AsyncGenerator<T>, log: Logger): AsyncGenerator<T> {
  try {
    yield* stream;
  } catch (error) {
    throw toConnectError(error, log);
  }
}
