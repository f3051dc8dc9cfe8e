import { isIPv6 } from "node:net";
import { type Interceptor, type StreamRequest, type StreamResponse, createContextKey } from "@connectrpc/connect";
import { admitStreamBatch } from "../api/admission.js";
import { toConnectError } from "../api/error-mapping.js";
import { isJobId, isQueueName } from "../api/validate.js";
import { callerToken } from "../api/token-service.js";
import { visibleQueues } from "../api/visibility.js";
import type { TokenLimits } from "../config.js";
import { BatonError } from "../errors.js";
import type { MaintenanceTask } from "../maintenance/maintainer.js";
import { JobService } from "../../clients/ts/src/gen/baton/v1/job_service_pb.js";
import { type SubscribeRequest, WorkerService } from "../../clients/ts/src/gen/baton/v1/worker_service_pb.js";
import { Health } from "../../clients/ts/src/gen/grpc/health/v1/health_pb.js";
import { jobQueues, scheduleQueue } from "../store/access.js";
import type { Database } from "../store/database.js";
import { CHANNELS, type NotificationHandlers } from "../store/listener.js";
import { type FoundToken, tokenFindBySecret, tokenRevokedAmong } from "../store/tokens.js";
import type { Logger } from "../util/log.js";
import { MAX_TIMER_MS } from "../util/timer.js";
import { type JobRef, type Scope, type ScopeLookups, enqueueJobRefs, methodKey, roleAllows, rolesText, ruleOf } from "./access.js";
import { compileQueuePatterns, hashTokenSecret } from "./api-tokens.js";

export interface AuthOptions {
  db: Database;
  log: Logger;
  /**
   * How long a token lookup is trusted, and how often open streams are re-checked. A
   * revocation reaches every replica at once through NOTIFY; this bounds the delay when a
   * notification is missed.
   */
  cacheMs: number;
  /** Defaults for tokens that set none of their own. */
  limits: TokenLimits;
  /**
   * Failed token lookups (unknown, revoked or expired tokens) one client address may cause per
   * window; beyond it, its tokens not already cached are refused without a lookup until the
   * window ends. 0 means no limit.
   */
  maxFailures: number;
  failureWindowMs: number;
  /** BATON_MAX_IN_FLIGHT: a hello above it is left to the handler, which refuses it as INVALID_ARGUMENT. */
  maxInFlightPerStream: number;
  /** BATON_MAX_QUEUES_PER_STREAM: a hello naming more is the handler's to refuse, unchecked here. */
  maxQueuesPerStream: number;
}

export interface Auth {
  /** Authenticates and authorizes every RPC but grpc.health.v1; applies per-token limits. */
  readonly interceptor: Interceptor;
  /** Revocations, for the replica's one LISTEN connection; after a reconnect, a re-check. */
  readonly notifications: { handlers: NotificationHandlers; onConnected(): void };
  /** The periodic re-check of open streams' tokens, for the replica's maintainer. */
  readonly task: MaintenanceTask;
}

/** The client address of a request, set by the server from the connection. */
export const peerAddress = createContextKey<string>("unknown", { description: "client address" });

/** An authenticated caller. */
interface Principal {
  token: FoundToken;
  /** `token 3 ("ci-producer")`, for messages. */
  label: string;
  matches: (queue: string) => boolean;
  /** Has the pattern '*': may call RPCs that span every queue. */
  everyQueue: boolean;
  limits: TokenLimits;
  /** When it expires, on this process's clock (Date.now()); undefined: never. */
  expiresAt?: number;
}

/** Failed token lookups of one client address in the current window. */
interface PeerFailures {
  windowStart: number;
  count: number;
}

/** One token's use of this replica. */
interface TokenUsage {
  tokens: number;
  refillTime: number;
  streams: Set<OpenStream>;
  inFlight: number;
  queues: number;
}

interface OpenStream {
  principal: Principal;
  usage: TokenUsage;
  /** The hello's max_in_flight, counted against the token once admitted. */
  inFlight: number;
  /** How many queues the hello named, counted against the token once admitted. */
  queues: number;
  /** Aborts the handler's signal, which ends the stream (and releases its leases). */
  controller: AbortController;
  /** Why the stream must end, once its token is revoked. */
  revoked?: string;
}

// Domain errors: the error-mapping interceptor and the Subscribe handler turn them into codes,
// including when they surface from the stream of requests a handler reads.
const unauthenticated = (message: string) => new BatonError("unauthenticated", message);
const denied = (message: string) => new BatonError("permission_denied", message);
const exhausted = (message: string, retryAfterMs?: number) => new BatonError("resource_exhausted", message, { retryAfterMs });
const notFound = (message: string) => new BatonError("not_found", message);

/**
 * Beyond this many cached lookups, or client addresses with failures, a map starts over. Known
 * and unknown tokens are cached apart, so that a flood of random tokens only ever evicts its
 * own kind.
 */
const MAX_CACHED = 10_000;

/**
 * What failed authentications are counted by: an IPv4 address, or the /64 network of an IPv6
 * one, since a single host commonly holds a whole /64 and could otherwise pick a fresh address
 * for every few guesses.
 */
export function failureSource(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  const ip = address.split("%")[0]!;
  if (!isIPv6(ip)) return address;
  const [head = "", tail] = ip.split("::");
  const left = head === "" ? [] : head.split(":");
  const right = tail === undefined || tail === "" ? [] : tail.split(":");
  const groups = [...left, ...Array<string>(8 - left.length - right.length).fill("0"), ...right];
  return `${groups
    .slice(0, 4)
    .map((group) => parseInt(group, 16).toString(16))
    .join(":")}::/64`;
}

/** Sets `key`, first starting over if the map is full. */
function remember<V>(map: Map<string, V>, key: string, value: V): void {
  if (map.size >= MAX_CACHED && !map.has(key)) map.clear();
  map.set(key, value);
}

/** What a batch of EnqueueJobsStream is checked by: the rule of EnqueueJobs. */
const batchRule = ruleOf(JobService.method.enqueueJobs);

export function startAuth(options: AuthOptions): Auth {
  const { db, log } = options;
  /** Tokens found, and secrets not found, by secret digest; each until its time. */
  const known = new Map<string, { expires: number; principal: Principal }>();
  const unknown = new Map<string, number>();
  /** Lookups in flight: concurrent requests with one secret share one query. */
  const inFlight = new Map<string, Promise<Principal | undefined>>();
  /** Counts revocations, so that a lookup answered from before one is not cached after it. */
  let revocations = 0;
  const failures = new Map<string, PeerFailures>();
  const usages = new Map<string, TokenUsage>();
  const openStreams = new Set<OpenStream>();
  const lookups: ScopeLookups = { scheduleQueue: (name) => scheduleQueue(db, name) };

  const principalOf = (token: FoundToken): Principal => ({
    token,
    label: `token ${token.id} ("${token.name}")`,
    matches: compileQueuePatterns(token.queues),
    everyQueue: token.queues.includes("*"),
    limits: {
      rateLimit: token.rateLimit ?? options.limits.rateLimit,
      maxStreams: token.maxStreams ?? options.limits.maxStreams,
      maxInFlight: token.maxInFlight ?? options.limits.maxInFlight,
      maxQueues: options.limits.maxQueues,
    },
    ...(token.expiresInMs !== null && { expiresAt: Date.now() + token.expiresInMs }),
  });

  /** Refuses, without a lookup, a client address that has failed too often in this window. */
  const checkFailures = (peer: string, now: number) => {
    const entry = failures.get(peer);
    if (!entry || options.maxFailures === 0 || entry.count < options.maxFailures) return;
    const retryMs = entry.windowStart + options.failureWindowMs - now;
    if (retryMs <= 0) return;
    throw exhausted(
      `too many failed authentications from ${peer}: ${entry.count} in ${options.failureWindowMs / 1000}s (BATON_AUTH_FAILURE_LIMIT); ` +
        `retry in ${Math.ceil(retryMs / 1000)} s`,
      retryMs,
    );
  };

  const countFailure = (peer: string) => {
    if (options.maxFailures === 0) return;
    const now = Date.now();
    let entry = failures.get(peer);
    if (!entry || now - entry.windowStart >= options.failureWindowMs) {
      if (!entry && failures.size >= MAX_CACHED) {
        for (const [address, old] of failures) if (now - old.windowStart >= options.failureWindowMs) failures.delete(address);
        if (failures.size >= MAX_CACHED) failures.clear();
      }
      entry = { windowStart: now, count: 0 };
      failures.set(peer, entry);
    }
    entry.count += 1;
  };

  /**
   * The token of a secret, cached for cacheMs; unknown secrets too, so a client retrying a
   * wrong one costs a query per period. Only a lookup that finds no usable token counts as a
   * failure of the client's address (a cached answer costs nothing); an address past its
   * limit gets no lookup for a secret that was not valid recently, so random tokens from it
   * cost nothing while its known tokens, even past their cache period, still work.
   */
  const findPrincipal = async (secret: string, peer: string): Promise<Principal | undefined> => {
    const key = hashTokenSecret(secret);
    const cacheKey = key.toString("hex");
    const now = Date.now();
    const hit = known.get(cacheKey);
    if (hit && hit.expires > now) return hit.principal;
    if ((unknown.get(cacheKey) ?? 0) > now) return undefined;
    const pending = inFlight.get(cacheKey);
    if (pending) return pending;
    if (!hit) checkFailures(peer, now);
    const revocationsBefore = revocations;
    // A failed lookup is not remembered: the next request asks again.
    const lookup = tokenFindBySecret(db, key)
      .then((token) => {
        const expires = Date.now() + options.cacheMs;
        const principal = token ? principalOf(token) : undefined;
        if (refusalOf(principal) !== undefined) countFailure(peer);
        if (!principal) return void remember(unknown, cacheKey, expires);
        if (revocations === revocationsBefore) remember(known, cacheKey, { expires, principal });
        return principal;
      })
      .finally(() => inFlight.delete(cacheKey));
    inFlight.set(cacheKey, lookup);
    return lookup;
  };

  const authenticate = async (header: Headers, peer: string): Promise<Principal> => {
    const value = header.get("authorization");
    if (value === null) {
      throw unauthenticated('missing API token: this broker requires "authorization: Bearer <token>" (tokens are made by "baton tokens create")');
    }
    const secret = /^Bearer +(\S+) *$/i.exec(value)?.[1];
    if (secret === undefined) throw unauthenticated('malformed authorization header: expected "Bearer <token>"');
    const principal = await findPrincipal(secret, peer);
    const refusal = refusalOf(principal);
    if (refusal !== undefined) throw unauthenticated(refusal);
    return principal!;
  };

  /** Why a token may not be used now, if it may not. */
  const refusalOf = (principal: Principal | undefined): string | undefined => {
    if (!principal) return "unknown API token";
    const revoked = principal.token.revokeTime;
    if (revoked) return `API ${principal.label} was revoked at ${revoked.toISOString()}`;
    if (principal.expiresAt !== undefined && principal.expiresAt <= Date.now()) return expiredText(principal);
    return undefined;
  };

  const expiredText = (principal: Principal) => `token expired: API ${principal.label} expired at ${principal.token.expireTime!.toISOString()}`;

  const usageOf = (principal: Principal): TokenUsage => {
    let usage = usages.get(principal.token.id);
    if (!usage) {
      usage = { tokens: principal.limits.rateLimit, refillTime: Date.now(), streams: new Set(), inFlight: 0, queues: 0 };
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
      throw exhausted(`${principal.label} is over its rate limit of ${rate} requests per second on this broker replica; retry in ${waitMs} ms`, waitMs);
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
          (method.endsWith("/ListJobs") ? " (or set queue)" : /\/(Cancel|Retry|Delete)Jobs$/.test(method) ? " (or set filter.queue)" : ""),
      );
    }
  };

  /**
   * The jobs of `refs` the caller may not see: on a queue outside its patterns, or unknown. The
   * two are not told apart, so that a token cannot learn what other queues hold. One lookup for
   * all of them; a malformed id is left to the handler (INVALID_ARGUMENT).
   */
  const hiddenJobs = async (principal: Principal, refs: JobRef[]): Promise<JobRef[]> => {
    const named = refs.filter((ref) => isJobId(ref.id));
    if (named.length === 0 || principal.everyQueue) return [];
    const queues = await jobQueues(db, [...new Set(named.map((ref) => ref.id))]);
    return named.filter((ref) => {
      const queue = queues.get(ref.id);
      return queue === undefined || !principal.matches(queue);
    });
  };

  /** NOT_FOUND, in the handler's words for an unknown job, for the first job the caller may not see. */
  const checkJobs = async (principal: Principal, refs: JobRef[]) => {
    const [hidden] = await hiddenJobs(principal, refs);
    if (!hidden) return;
    throw notFound(hidden.field === undefined ? `job ${hidden.id} not found` : `${hidden.field} names job ${hidden.id}, which does not exist`);
  };

  const revoke = (stream: OpenStream, message: string) => {
    if (stream.revoked !== undefined) return;
    stream.revoked = message;
    stream.controller.abort(unauthenticated(message));
    log.info("closing the stream of a revoked or expired API token", { token: stream.principal.token.id });
  };

  const revokeToken = (id: string) => {
    revocations += 1;
    known.clear();
    for (const stream of openStreams) {
      if (stream.principal.token.id === id) revoke(stream, `API ${stream.principal.label} was revoked`);
    }
  };

  /**
   * Admits a hello: its queues must match the token, and its credit fit the token's budget.
   * Resumed leases of jobs the token may not see are dropped, as the broker drops stale ones.
   */
  const admitHello = async (stream: OpenStream, hello: Extract<SubscribeRequest["message"], { case: "hello" }>["value"]) => {
    const { principal, usage } = stream;
    // Too many queues is the handler's INVALID_ARGUMENT; checking each of them first would
    // spend the very CPU the cap is there to save.
    if (hello.queues.length > options.maxQueuesPerStream) return;
    hello.queues.forEach((queue, i) => checkQueue(principal, queue, `hello.queues[${i}]`));
    const hidden = new Set((await hiddenJobs(principal, hello.resume.map((lease) => ({ id: lease.jobId })))).map((ref) => ref.id));
    if (hidden.size > 0) hello.resume = hello.resume.filter((lease) => !hidden.has(lease.jobId));
    const n = hello.maxInFlight;
    if (stream.inFlight > 0 || n < 1 || n > options.maxInFlightPerStream || !usage.streams.has(stream)) return;
    const max = principal.limits.maxInFlight;
    if (usage.inFlight + n > max) {
      throw exhausted(
        `hello.max_in_flight ${n} would bring the jobs in flight of ${principal.label} on this broker replica to ${usage.inFlight + n}; the limit is ${max}`,
      );
    }
    const queues = new Set(hello.queues).size;
    const maxQueues = principal.limits.maxQueues;
    if (usage.queues + queues > maxQueues) {
      throw exhausted(
        `hello.queues (${queues}) would bring the queues subscribed by ${principal.label} on this broker replica to ${usage.queues + queues}; the limit is ${maxQueues} (BATON_TOKEN_MAX_QUEUES)`,
      );
    }
    usage.inFlight += n;
    stream.inFlight = n;
    usage.queues += queues;
    stream.queues = queues;
  };

  async function* guardRequests(stream: OpenStream, requests: AsyncIterable<SubscribeRequest>): AsyncGenerator<SubscribeRequest> {
    for await (const request of requests) {
      if (stream.revoked !== undefined) throw unauthenticated(stream.revoked);
      const message = request.message;
      if (message.case === "hello") await admitHello(stream, message.value);
      if (message.case === "ack") {
        const continuations = message.value.continueWith;
        continuations.forEach((job, i) => checkQueue(stream.principal, job.queue, `ack.continue_with[${i}].queue`));
        await checkJobs(stream.principal, continuations.flatMap((job, i) => enqueueJobRefs(job, `ack.continue_with[${i}]`)));
      }
      yield request;
    }
  }

  async function* endIfRevoked<T>(stream: OpenStream, responses: AsyncIterable<T>): AsyncGenerator<T> {
    yield* responses;
    // Past the interceptors, so mapped here: the stream ended cleanly only because the token
    // was revoked, and the worker must hear why.
    if (stream.revoked !== undefined) throw toConnectError(unauthenticated(stream.revoked), log);
  }

  /**
   * A stream (Subscribe or EnqueueJobsStream): counted against its token until it ends, and
   * ended if the token is revoked. `guard` checks what arrives on it, from the stream it is given.
   */
  const openStream = async (
    principal: Principal,
    usage: TokenUsage,
    req: StreamRequest,
    next: (req: StreamRequest) => Promise<StreamResponse>,
    guard: (stream: OpenStream, requests: StreamRequest["message"]) => StreamRequest["message"],
  ) => {
    const max = principal.limits.maxStreams;
    if (usage.streams.size >= max) {
      throw exhausted(`${principal.label} already has ${usage.streams.size} open streams on this broker replica; the limit is ${max}`);
    }
    const stream: OpenStream = { principal, usage, inFlight: 0, queues: 0, controller: new AbortController() };
    usage.streams.add(stream);
    openStreams.add(stream);
    // A token that expires ends its streams then, not at the next periodic check, which a long
    // BATON_AUTH_CACHE_SECONDS makes late; one that expires beyond a timer's range (about
    // 24 days) is left to that check.
    const untilExpiry = principal.expiresAt === undefined ? Infinity : principal.expiresAt - Date.now();
    const expiry = untilExpiry <= MAX_TIMER_MS ? setTimeout(() => revoke(stream, expiredText(principal)), Math.max(0, untilExpiry)) : undefined;
    const end = () => {
      clearTimeout(expiry);
      stream.controller.abort();
      if (!usage.streams.delete(stream)) return;
      openStreams.delete(stream);
      usage.inFlight -= stream.inFlight;
      stream.inFlight = 0;
      usage.queues -= stream.queues;
      stream.queues = 0;
    };
    // The call's signal aborts when the call ends, however it ends.
    if (req.signal.aborted) end();
    else req.signal.addEventListener("abort", end, { once: true });
    const response = await next({ ...req, signal: stream.controller.signal, message: guard(stream, req.message) });
    return { ...response, message: endIfRevoked(stream, response.message) };
  };

  /**
   * Each batch of an EnqueueJobsStream pays and is checked as an EnqueueJobs call would be.
   * The handler asks (api/admission.ts), so that a refusal answers that batch alone.
   */
  const admitBatches = (stream: OpenStream, req: StreamRequest) => {
    const { principal, usage } = stream;
    const method = methodKey(JobService.method.enqueueJobsStream);
    req.contextValues.set(admitStreamBatch, async (request) => {
      if (stream.revoked !== undefined) throw unauthenticated(stream.revoked);
      takeRequest(principal, usage);
      checkScope(principal, method, await batchRule.scope({ jobs: request.jobs }, lookups));
      await checkJobs(principal, batchRule.jobs({ jobs: request.jobs }));
    });
  };

  const interceptor: Interceptor = (next) => async (req) => {
    if (req.service.typeName === Health.typeName) return next(req);
    const principal = await authenticate(req.header, failureSource(req.contextValues.get(peerAddress)));
    req.contextValues.set(visibleQueues, principal.matches);
    req.contextValues.set(callerToken, principal.token);
    const usage = usageOf(principal);
    takeRequest(principal, usage);
    const rule = ruleOf(req.method);
    const method = methodKey(req.method);
    if (!roleAllows(rule, principal.token.role)) {
      throw denied(`${principal.label} has the role ${principal.token.role}; ${method} needs the role ${rolesText(rule)}`);
    }
    if (!req.stream) {
      checkScope(principal, method, await rule.scope(req.message, lookups));
      await checkJobs(principal, rule.jobs(req.message));
      return next(req);
    }
    const nextStream = next as (req: StreamRequest) => Promise<StreamResponse>;
    if (req.method.parent.typeName === WorkerService.typeName) {
      return openStream(principal, usage, req, nextStream, (stream, requests) => guardRequests(stream, requests as AsyncIterable<SubscribeRequest>) as StreamRequest["message"]);
    }
    return openStream(principal, usage, req, nextStream, (stream, requests) => {
      admitBatches(stream, req);
      return requests;
    });
  };

  // Revocations reach every replica at once; the periodic check covers notifications missed
  // while the LISTEN connection was down, and ends the streams of tokens that expired.
  const recheck = async () => {
    for (const stream of openStreams) {
      const refusal = refusalOf(stream.principal);
      if (refusal !== undefined) revoke(stream, refusal);
    }
    const ids = [...new Set([...openStreams].map((stream) => stream.principal.token.id))];
    if (ids.length === 0) return;
    for (const id of await tokenRevokedAmong(db, ids)) revokeToken(id);
  };
  return {
    interceptor,
    notifications: {
      handlers: { [CHANNELS.tokens]: revokeToken },
      onConnected: () => void recheck().catch((error: unknown) => log.warn("API token check failed", { error })),
    },
    task: { name: "API token check", intervalMs: options.cacheMs, run: recheck },
  };
}
