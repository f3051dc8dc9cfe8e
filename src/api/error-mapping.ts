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
  unimplemented: Code.Unimplemented,
};

/**
 * The one place where errors become Connect codes. Domain errors keep their message; anything
 * else (a database failure, a bug) is logged with its cause and answered with a generic
 * message, so SQL text never reaches a client.
 */
export function toConnectError(error: unknown, log: Logger): ConnectError {
  if (error instanceof ConnectError) return error;
  if (error instanceof BatonError) return new ConnectError(error.message, codes[error.code]);
  log.error("request failed", { error });
  if (isConnectionError(error)) return new ConnectError("database unavailable; retry", Code.Unavailable);
  return new ConnectError("internal error", Code.Internal);
}

/** Connection failures and shutdowns: worth a retry. Protocol violations (08P01) are bugs. */
const UNAVAILABLE_SQLSTATES = new Set(["08000", "08001", "08003", "08004", "08006", "57P01", "57P02", "57P03"]);

function isConnectionError(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return typeof code === "string" && (code.startsWith("ECONN") || UNAVAILABLE_SQLSTATES.has(code));
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
