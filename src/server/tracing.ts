import { ConnectError, type Interceptor } from "@connectrpc/connect";
import { SpanKind, SpanStatusCode, type TextMapGetter, context, propagation, trace } from "@opentelemetry/api";
import { codeName } from "../api/error-mapping.js";

const headerGetter: TextMapGetter<Headers> = {
  keys: (carrier) => [...carrier.keys()],
  get: (carrier, key) => carrier.get(key) ?? undefined,
};

/**
 * One SERVER span per unary RPC, child of the caller's W3C traceparent, active while the
 * handler runs, so an enqueue's `send` spans nest under it. Streaming calls (Subscribe) get
 * none: a span that lasts as long as a worker stays connected says nothing. A no-op until
 * the OpenTelemetry SDK is started (src/telemetry/sdk.ts).
 */
export function tracingInterceptor(): Interceptor {
  const tracer = trace.getTracer("baton");
  return (next) => async (req) => {
    if (req.stream) return next(req);
    const parent = propagation.extract(context.active(), req.header, headerGetter);
    const grpc = req.header.get("content-type")?.startsWith("application/grpc") ?? false;
    const span = tracer.startSpan(
      `${req.service.typeName}/${req.method.name}`,
      {
        kind: SpanKind.SERVER,
        attributes: { "rpc.system": grpc ? "grpc" : "connect_rpc", "rpc.service": req.service.typeName, "rpc.method": req.method.name },
      },
      parent,
    );
    try {
      return await context.with(trace.setSpan(parent, span), () => next(req));
    } catch (error) {
      const connectError = ConnectError.from(error);
      span.setAttribute(grpc ? "rpc.grpc.status_code" : "rpc.connect_rpc.error_code", grpc ? connectError.code : codeName(connectError.code));
      span.setStatus({ code: SpanStatusCode.ERROR, message: connectError.rawMessage });
      throw error;
    } finally {
      span.end();
    }
  };
}
