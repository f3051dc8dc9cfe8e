import { toBinary } from "@bufbuild/protobuf";
import { DurationSchema, durationFromMs } from "@bufbuild/protobuf/wkt";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { BatonError, type BatonErrorCode } from "../errors.js";
import type { Logger } from "../util/log.js";

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
  aborted: Code.Aborted,
  unimplemented: Code.Unimplemented,
};

/** The canonical name of a code, as Connect spells it on the wire ("invalid_argument"). */
export function codeName(code: Code): string {
  return Code[code].replace(/(?<=[a-z])(?=[A-Z])/g, "_").toLowerCase();
}

/**
 * A google.rpc.RetryInfo detail (`retry_delay`, field 1, a Duration), encoded here rather than
 * from generated code: the contract does not import google/rpc, and clients decode the detail
 * with their own googleapis types (Go's errdetails.RetryInfo, Python's error_details_pb2).
 */
function retryInfo(retryAfterMs: number): { type: string; value: Uint8Array } {
  const delay = toBinary(DurationSchema, durationFromMs(Math.max(0, Math.round(retryAfterMs))));
  return { type: "google.rpc.RetryInfo", value: new BinaryWriter().tag(1, WireType.LengthDelimited).bytes(delay).finish() };
}

/**
 * The one place where errors become Connect codes. Domain errors keep their message (the store
 * turns an unreachable or timed-out database into one); anything else (a bug) is logged with
 * its cause and answered with a generic message, so SQL text never reaches a client.
 */
export function toConnectError(error: unknown, log: Logger): ConnectError {
  if (error instanceof ConnectError) return asDecodeError(error) ?? error;
  if (error instanceof BatonError) {
    const connectError = new ConnectError(error.message, codes[error.code]);
    // Connect writes a detail given as bytes as it is, in gRPC trailers and Connect JSON alike.
    if (error.retryAfterMs !== undefined) connectError.details.push(retryInfo(error.retryAfterMs));
    return connectError;
  }
  // The client went away mid-request (a cancelled call, a closed connection): nothing failed
  // on this side, and the answer reaches no one.
  if ((error as { code?: unknown } | undefined)?.code === "ERR_STREAM_PREMATURE_CLOSE") {
    log.debug("client closed the request", { error });
    return new ConnectError("the client closed the request", Code.Canceled);
  }
  log.error("request failed", { error });
  return new ConnectError("internal error", Code.Internal);
}

/** How @connectrpc/connect 2.x words requests it cannot decode (and answers INTERNAL). */
const PARSE_BINARY = "parse binary: ";
const UNDECODABLE = new Map([
  [
    "received compressed envelope, but do not know how to decompress",
    "the request is not valid: a message is flagged compressed, but the request names no encoding",
  ],
  // connect-node's wording for a zlib failure other than corrupt data, e.g. a body cut short.
  ["decompression failed", "the request is not valid: its compressed body cannot be decompressed"],
]);

/**
 * A request that cannot be decoded (not valid protobuf: truncated, a bad wire type, a string
 * field that is not UTF-8; a message flagged compressed in a request that names no encoding;
 * a compressed body cut short) is the client's fault, yet Connect answers it with INTERNAL.
 * On the server these errors only ever come from reading a request. Returns the
 * INVALID_ARGUMENT to answer instead, or undefined for any other error. Stream messages reach
 * this through the handlers; a unary request fails before any interceptor runs, so
 * server/decode-errors.ts rewrites those answers with it.
 */
export function asDecodeError(error: ConnectError): ConnectError | undefined {
  if (error.code !== Code.Internal) return undefined;
  const message = error.rawMessage;
  const known = UNDECODABLE.get(message);
  if (known) return new ConnectError(known, Code.InvalidArgument);
  if (!message.startsWith(PARSE_BINARY)) return undefined;
  const detail = message.slice(PARSE_BINARY.length);
  // TextDecoder's own wording names no field; protobuf-es does not say which one either.
  const reason = /utf-?8/i.test(detail) ? "a string field is not valid UTF-8" : detail;
  return new ConnectError(`the request is not valid protobuf: ${reason}`, Code.InvalidArgument);
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
