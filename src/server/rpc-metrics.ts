import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { codeName } from "../api/error-mapping.js";
import type { RpcMetrics, RpcName } from "../telemetry/rpc-metrics.js";

/**
 * Counts every RPC in RpcMetrics: started, then handled with its status code. A streaming
 * response is handled when its last message is sent, when it fails, or when the client goes
 * away (canceled); interceptors otherwise see a stream only until its first message.
 */
export function rpcMetricsInterceptor(metrics: RpcMetrics): Interceptor {
  return (next) => async (req) => {
    const rpc: RpcName = { service: req.service.typeName, method: req.method.name };
    const start = performance.now();
    // Only unary calls are timed: a stream lasts as long as its client stays.
    const seconds = () => (req.method.methodKind === "unary" ? (performance.now() - start) / 1000 : undefined);
    metrics.started(rpc);
    let res;
    try {
      res = await next(req);
    } catch (error) {
      metrics.handled(rpc, codeOf(error), seconds());
      throw error;
    }
    if (!res.stream) {
      metrics.handled(rpc, "ok", seconds());
      return res;
    }
    return { ...res, message: observeEnd(res.message, (code) => metrics.handled(rpc, code)) };
  };
}

async function* observeEnd<T>(messages: AsyncIterable<T>, handled: (code: string) => void): AsyncGenerator<T> {
  let code = codeName(Code.Canceled);
  try {
    yield* messages;
    code = "ok";
  } catch (error) {
    code = codeOf(error);
    throw error;
  } finally {
    handled(code);
  }
}

const codeOf = (error: unknown) => codeName(ConnectError.from(error).code);
