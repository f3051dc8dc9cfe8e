import { type ConnectRouter, ConnectError } from "@connectrpc/connect";
import { type UniversalServerRequest, type UniversalServerResponse, createAsyncIterable, encodeEnvelope, readAllBytes } from "@connectrpc/connect/protocol";
import { codeToHttpStatus, errorFromJsonBytes, errorToJsonBytes } from "@connectrpc/connect/protocol-connect";
import { findTrailerError, setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { trailerFlag, trailerParse, trailerSerialize } from "@connectrpc/connect/protocol-grpc-web";
import { asDecodeError } from "../api/error-mapping.js";

/**
 * Connect decodes a unary request before any interceptor runs, and answers one it cannot decode
 * (not protobuf, or a compressed body that does not decompress) with INTERNAL in every
 * protocol. Each unary handler of `router` is wrapped so
 * that such an answer says INVALID_ARGUMENT instead (see asDecodeError), whatever the
 * protocol: a Connect error body, a gRPC trailer, or a gRPC-Web trailer frame. Streams decode
 * inside the handler, where the error mapping sees the error, so their hot path stays as it is.
 * Call after the services are registered.
 */
export function answerDecodeErrorsAsInvalidArgument(router: ConnectRouter): void {
  router.handlers.forEach((handler, i) => {
    if (handler.method.methodKind !== "unary") return;
    const wrapped = async (request: UniversalServerRequest) => rewrite(await handler(request));
    router.handlers[i] = Object.assign(wrapped, handler);
  });
}

async function rewrite(response: UniversalServerResponse): Promise<UniversalServerResponse> {
  const type = response.header?.get("content-type") ?? "";
  const body = response.body;
  if (body === undefined || !(Symbol.asyncIterator in body)) return response;
  if (type.startsWith("application/grpc-web")) return { ...response, body: rewriteGrpcWebTrailer(body) };
  if (type.startsWith("application/grpc")) return { ...response, body: rewriteGrpcTrailerAfter(body, response.trailer) };
  // A Connect unary error: a JSON body, uncompressed when short (and these are short).
  if (response.status === 500 && type === "application/json" && !response.header?.has("content-encoding")) {
    const bytes = await readAllBytes(body, Number.MAX_SAFE_INTEGER);
    const decodeError = asDecodeError(errorFromJsonBytes(bytes, undefined, new ConnectError("")));
    if (!decodeError) return { ...response, body: createAsyncIterable([bytes]) };
    const json = errorToJsonBytes(decodeError, {});
    response.header!.set("content-length", String(json.byteLength));
    return { ...response, status: codeToHttpStatus(decodeError.code), body: createAsyncIterable([json]) };
  }
  return response;
}

/** gRPC sends the status in trailers, which Connect fills in once the body has ended. */
async function* rewriteGrpcTrailerAfter(body: AsyncIterable<Uint8Array>, trailer: Headers | undefined): AsyncIterable<Uint8Array> {
  yield* body;
  const decodeError = trailer && asDecodeError(findTrailerError(trailer) ?? new ConnectError(""));
  if (decodeError) setTrailerStatus(trailer, decodeError);
}

/** gRPC-Web sends the trailers as the body's last frame: one chunk, flagged. */
async function* rewriteGrpcWebTrailer(body: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  for await (const chunk of body) {
    if (chunk.byteLength < 5 || (chunk[0]! & trailerFlag) !== trailerFlag) {
      yield chunk;
      continue;
    }
    const trailer = trailerParse(chunk.subarray(5));
    const decodeError = asDecodeError(findTrailerError(trailer) ?? new ConnectError(""));
    yield decodeError ? encodeEnvelope(trailerFlag, trailerSerialize(setTrailerStatus(trailer, decodeError))) : chunk;
  }
}
