import { Code, ConnectError, type Interceptor, type StreamRequest, type StreamResponse } from "@connectrpc/connect";
import { isQueueName } from "../api/validate.js";
import { BatonError } from "../errors.js";
import { type SubscribeRequest, WorkerService } from "../gen/baton/v1/worker_service_pb.js";
import { Health } from "../gen/grpc/health/v1/health_pb.js";
import { startPeriodic } from "../maintenance/periodic.js";
import { jobQueue, scheduleQueue } from "../store/access.js";
import type { Database } from "../store/database.js";
import { CHANNELS, startListener } from "../store/listener.js";
import { type TokenRecord, tokenFindBySecret, tokenRevokedAmong } from "../store/tokens.js";
import type { Logger } from "../telemetry/log.js";
import { type Scope, type ScopeLookups, methodKey, roleAllows, rolesText, ruleOf } from "./access.js";
import { compileQueuePatterns, hashTokenSecret } from "./api-tokens.js";

/** What one token may use on one replica. Every count is in memory, per replica. */
export interface TokenLimits {
  /** Requests per second (a bucket holding one second's worth); 0 means unlimited. */
  rateLimit: number;
  /** Open Subscribe streams. */
  maxStreams: number;
  /** Sum of hello.max_in_flight over the open streams. */
  maxInFlight: number;
}

export interface AuthOptions {
  db: Database;
  databaseUrl: string;
  log: Logger;
  /**
   * How long a token lookup is trusted, and how often open streams are re-checked. A
   * revocation reaches every replica at once through NOTIFY; this bounds the delay when a
   * notification is missed.
   */
  cacheMs: number;
  /** Defaults for tokens that set none of their own. */
  limits: TokenLimits;
  /** BATON_MAX_IN_FLIGHT: a hello above it is left to the handler, which refuses it as INVALID_ARGUMENT. */
  maxInFlightPerStream: number;
}

export interface Auth {
  /** Authenticates and authorizes every RPC but grpc.health.v1; applies per-token limits. */
  readonly interceptor: Interceptor;
  close(): Promise<void>;
}

/** An authenticated caller. */
interface Principal {
  token: TokenRecord;
  /** `token 3 ("ci-producer")`, for messages. */
  label: string;
  matches(queue: string): boolean;
  /** Has the pattern '*': may call RPCs that span every queue. */
  everyQueue: boolean;
  limits: TokenLimits;
}

/** One token's use of this replica. */
interface TokenUsage {
  tokens: number;
  refillTime: number;
  streams: Set<OpenStream>;
  inFlight: number;
}

interface OpenStream {
  principal: Principal;
  usage: TokenUsage;
  /** The hello's max_in_flight, counted against the token once admitted. */
  inFlight: number;
  /** Aborts the handler's signal, which ends the stream (and releases its leases). */
  controller: AbortController;
  /** Why the stream must end, once its token is revoked. */
  revoked?: string;
}

// Domain errors: the error-mapping interceptor and the Subscribe handler turn them into codes,
// including when they surface from the stream of requests a handler reads.
const unauthenticated = (message: string) => new BatonError("unauthenticated", message);
const denied = (message: string) => new BatonError("permission_denied", message);
const exhausted = (message: string) => new BatonError("resource_exhausted", message);

/** Beyond this many cached lookups (say, a client trying random tokens) the cache starts over. */
const MAX_CACHED = 10_000;

export function startAuth(options: AuthOptions): Auth {
  const { db, log } = options;
  const cache = new Map<string, { expires: number; principal: Promise<Principal | undefined> }>();
  const usages = new Map<string, TokenUsage>();
  const openStreams = new Set<OpenStream>();
  const lookups: ScopeLookups = { jobQueue: (id) => jobQueue(db, id), scheduleQueue: (name) => scheduleQueue(db, name) };

  const principalOf = (token: TokenRecord): Principal => ({
    token,
    label: `token ${token.id} ("${token.name}")`,
    matches: compileQueuePatterns(token.queues),
    everyQueue: token.queues.includes("*"),
    limits: {
      rateLimit: token.rateLimit ?? options.limits.rateLimit,
      maxStreams: token.maxStreams ?? options.limits.maxStreams,
      maxInFlight: token.maxInFlight ?? options.limits.maxInFlight,
    },
  });

  /** The token of a secret, cached for cacheMs; unknown secrets too, so a client retrying a wrong one costs a query per period. */
  const findPrincipal = (secret: string): Promise<Principal | undefined> => {
    const key = hashTokenSecret(secret);
    const cacheKey = key.toString("hex");
    const now = Date.now();
    const cached = cache.get(cacheKey);
    if (cached && cached.expires > now) return cached.principal;
    if (cache.size >= MAX_CACHED) cache.clear();
    const principal = tokenFindBySecret(db, key).then((token) => token && principalOf(token));
    cache.set(cacheKey, { expires: now + options.cacheMs, principal });
    // A failed lookup is not remembered: the next request asks again.
    principal.catch(() => cache.delete(cacheKey));
    return principal;
  };

  const authenticate = async (header: Headers): Promise<Principal> => {
    const value = header.get("authorization");
    if (value === null) {
      throw unauthenticated('missing API token: this broker requires "authorization: Bearer <token>" (tokens are made by "baton tokens create")');
    }
    const secret = /^Bearer +(\S+) *$/i.exec(value)?.[1];
    if (secret === undefined) throw unauthenticated('malformed authorization header: expected "Bearer <token>"');
    const principal = await findPrincipal(secret);
    if (!principal) throw unauthenticated("unknown API token");
    const revoked = principal.token.revokeTime;
    if (revoked) throw unauthenticated(`API ${principal.label} was revoked at ${revoked.toISOString()}`);
    return principal;
  };

  const usageOf = (principal: Principal): TokenUsage => {
    let usage = usages.get(principal.token.id);
    if (!usage) {
      usage = { tokens: principal.limits.rateLimit, refillTime: Date.now(), streams: new Set(), inFlight: 0 };
      usages.set(principal.token.id, usage);
    }
    return usage;
  };

  /** Token bucket: refills at the rate, holds one second's worth, a request costs one. */
  const takeRequest = (principal: Principal, usage: TokenUsage) => {
    const rate = principal.limits.rateLimit;
    if (rate === 0) return;
    const now = Date.now();
    const capacity = Math.max(1, rate);
    usage.tokens = Math.min(capacity, usage.tokens + ((now - usage.refillTime) / 1000) * rate);
    usage.refillTime = now;
    if (usage.tokens < 1) {
      const waitMs = Math.ceil(((1 - usage.tokens) / rate) * 1000);
      throw exhausted(
        `${principal.label} is over its rate limit of ${rate} requests per second on this broker replica; retry in ${waitMs} ms`,
      );
    }
    usage.tokens -= 1;
  };

  const checkQueue = (principal: Principal, queue: string, field: string) => {
    // A malformed name is not a question of access: the handler answers INVALID_ARGUMENT.
    if (!isQueueName(queue) || principal.matches(queue)) return;
    throw denied(`${field} "${queue}" is outside the queues of ${principal.label}: ${principal.token.queues.join(", ")}`);
  };

  const checkScope = (principal: Principal, method: string, scope: Scope) => {
    if (scope !== "all") {
      for (const { queue, field } of scope) checkQueue(principal, queue, field);
    } else if (!principal.everyQueue) {
      throw denied(
        `${method} spans every queue, and ${principal.label} may use only ${principal.token.queues.join(", ")}; it needs the pattern "*"` +
          (method.endsWith("/ListJobs") ? " (or set queue)" : ""),
      );
    }
  };

  const revoke = (stream: OpenStream, message: string) => {
    if (stream.revoked !== undefined) return;
    stream.revoked = message;
    stream.controller.abort(unauthenticated(message));
    log.info("closing the stream of a revoked API token", { token: stream.principal.token.id });
  };

  const revokeToken = (id: string) => {
    cache.clear();
    for (const stream of openStreams) {
      if (stream.principal.token.id === id) revoke(stream, `API ${stream.principal.label} was revoked`);
    }
  };

  /** Admits a hello: its queues must match the token, and its credit fit the token's budget. */
  const admitHello = (stream: OpenStream, hello: Extract<SubscribeRequest["message"], { case: "hello" }>["value"]) => {
    const { principal, usage } = stream;
    hello.queues.forEach((queue, i) => checkQueue(principal, queue, `hello.queues[${i}]`));
    const n = hello.maxInFlight;
    if (stream.inFlight > 0 || n < 1 || n > options.maxInFlightPerStream || !usage.streams.has(stream)) return;
    const max = principal.limits.maxInFlight;
    if (usage.inFlight + n > max) {
      throw exhausted(
        `hello.max_in_flight ${n} would bring the jobs in flight of ${principal.label} on this broker replica to ${usage.inFlight + n}; the limit is ${max}`,
      );
    }
    usage.inFlight += n;
    stream.inFlight = n;
  };

  async function* guardRequests(stream: OpenStream, requests: AsyncIterable<SubscribeRequest>): AsyncGenerator<SubscribeRequest> {
    for await (const request of requests) {
      if (stream.revoked !== undefined) throw unauthenticated(stream.revoked);
      const message = request.message;
      if (message.case === "hello") admitHello(stream, message.value);
      if (message.case === "ack") {
        message.value.continueWith.forEach((job, i) => checkQueue(stream.principal, job.queue, `ack.continue_with[${i}].queue`));
      }
      yield request;
    }
  }

  async function* endIfRevoked<T>(stream: OpenStream, responses: AsyncIterable<T>): AsyncGenerator<T> {
    yield* responses;
    // Past the interceptors, so a Connect error: the stream ended cleanly only because the
    // token was revoked, and the worker must hear why.
    if (stream.revoked !== undefined) throw new ConnectError(stream.revoked, Code.Unauthenticated);
  }

  /** A Subscribe stream: counted against its token until it ends, and ended if the token is revoked. */
  const openStream = async (principal: Principal, usage: TokenUsage, req: StreamRequest, next: (req: StreamRequest) => Promise<StreamResponse>) => {
    const max = principal.limits.maxStreams;
    if (usage.streams.size >= max) {
      throw exhausted(`${principal.label} already has ${usage.streams.size} open streams on this broker replica; the limit is ${max}`);
    }
    const stream: OpenStream = { principal, usage, inFlight: 0, controller: new AbortController() };
    usage.streams.add(stream);
    openStreams.add(stream);
    const end = () => {
      stream.controller.abort();
      if (!usage.streams.delete(stream)) return;
      openStreams.delete(stream);
      usage.inFlight -= stream.inFlight;
      stream.inFlight = 0;
    };
    // The call's signal aborts when the call ends, however it ends.
    if (req.signal.aborted) end();
    else req.signal.addEventListener("abort", end, { once: true });
    const response = await next({
      ...req,
      signal: stream.controller.signal,
      message: guardRequests(stream, req.message as AsyncIterable<SubscribeRequest>),
    });
    return { ...response, message: endIfRevoked(stream, response.message) };
  };

  const interceptor: Interceptor = (next) => async (req) => {
    if (req.service.typeName === Health.typeName) return next(req);
    const principal = await authenticate(req.header);
    const usage = usageOf(principal);
    takeRequest(principal, usage);
    const rule = ruleOf(req.method);
    const method = methodKey(req.method);
    if (!roleAllows(rule, principal.token.role)) {
      throw denied(`${principal.label} has the role ${principal.token.role}; ${method} needs the role ${rolesText(rule)}`);
    }
    if (!req.stream) {
      checkScope(principal, method, await rule.scope(req.message, lookups));
      return next(req);
    }
    if (req.method.parent.typeName !== WorkerService.typeName) return next(req);
    return openStream(principal, usage, req, next as (req: StreamRequest) => Promise<StreamResponse>);
  };

  // Revocations reach every replica at once; the periodic check covers notifications missed
  // while the LISTEN connection was down.
  const recheck = async () => {
    const ids = [...new Set([...openStreams].map((stream) => stream.principal.token.id))];
    if (ids.length === 0) return;
    for (const id of await tokenRevokedAmong(db, ids)) revokeToken(id);
  };
  const listener = startListener({
    url: options.databaseUrl,
    log,
    connectTimeoutMs: db.timeouts?.connectMs,
    availability: db.availability,
    handlers: { [CHANNELS.tokens]: revokeToken },
    onConnected: () => void recheck().catch((error: unknown) => log.warn("API token check failed", { error })),
  });
  const periodic = startPeriodic("API token check", options.cacheMs, 0.2, log, recheck);

  return {
    interceptor,
    async close() {
      await periodic.stop();
      await listener.close();
    },
  };
}
