import type { Database } from "../../store/database.js";
import { TOKEN_ROLES, type TokenRole } from "../../store/token-role.js";
import type { TokenRecord } from "../../store/tokens.js";
import { generateTokenSecret, hashTokenSecret, validateQueuePattern, validateTokenName } from "../../server/api-tokens.js";
import { type Command, type Flags, type FlagSpec, RECORD_OUTPUTS } from "../args.js";
import { ExitCode, UsageError } from "../errors.js";
import { table } from "../output.js";

/**
 * `baton tokens create|list|revoke`. Unlike the other client commands these talk to the
 * broker's database, not to a broker: they make the credentials a broker with auth on asks
 * for, so they cannot need one. Whoever can reach the database owns the broker anyway.
 */

/** Longest --expires-in: ten years, far beyond any sane rotation yet inside timestamptz. */
const MAX_EXPIRES_IN_MS = 3650 * 86_400_000;

/** The store's token queries; loaded on use, so other commands start without pg. */
const store = () => import("../../store/tokens.js");

const databaseFlag: Record<string, FlagSpec> = {
  "database-url": {
    type: "string",
    value: "<url>",
    description: "the broker's PostgreSQL (env BATON_DATABASE_URL, else DATABASE_URL)",
  },
};

const NOTES = `Tokens commands write to the broker's database directly (BATON_DATABASE_URL), not
through a broker: they bootstrap authentication. --url is ignored.`;

async function withDatabase<T>(flags: Flags, work: (db: Database) => Promise<T>): Promise<T> {
  const url = flags.string("database-url") ?? (process.env.BATON_DATABASE_URL || process.env.DATABASE_URL || undefined);
  if (url === undefined) {
    throw new UsageError("tokens commands write to the broker's database: set BATON_DATABASE_URL or --database-url");
  }
  const { createDatabase } = await import("../../store/database.js");
  const db = createDatabase({ url, maxConnections: 1, applicationName: "baton-tokens" });
  try {
    return await work(db);
  } catch (error) {
    // undefined_table: the schema is older than API tokens.
    if ((error as { code?: unknown }).code === "42P01") {
      throw new Error('this database has no API tokens table yet: run "baton migrate" (or start the broker) first', { cause: error });
    }
    throw error;
  } finally {
    await db.close();
  }
}

function limitsText(token: TokenRecord): string {
  const limits = [
    token.rateLimit !== null && `${token.rateLimit}/s`,
    token.maxStreams !== null && `${token.maxStreams} streams`,
    token.maxInFlight !== null && `${token.maxInFlight} in flight`,
  ].filter((text) => text !== false);
  return limits.length > 0 ? limits.join(", ") : "defaults";
}

function tokenJson(token: TokenRecord) {
  return {
    id: token.id,
    name: token.name,
    role: token.role,
    queues: token.queues,
    rateLimit: token.rateLimit,
    maxStreams: token.maxStreams,
    maxInFlight: token.maxInFlight,
    createTime: token.createTime.toISOString(),
    revokeTime: token.revokeTime?.toISOString() ?? null,
    expireTime: token.expireTime?.toISOString() ?? null,
  };
}

function roleFlag(flags: Flags): TokenRole {
  const role = flags.string("role");
  if (role === undefined) throw new UsageError(`--role is required: ${TOKEN_ROLES.join(", ")}`);
  if (!(TOKEN_ROLES as readonly string[]).includes(role)) {
    throw new UsageError(`--role must be one of ${TOKEN_ROLES.join(", ")}, got "${role}"`);
  }
  return role as TokenRole;
}

function queuesFlag(flags: Flags): string[] {
  const patterns = flags.list("queues").flatMap((item) => item.split(",")).map((p) => p.trim()).filter((p) => p !== "");
  if (patterns.length === 0) throw new UsageError(`--queues is required: glob patterns such as 'emails.*', or '*' for every queue`);
  try {
    patterns.forEach(validateQueuePattern);
  } catch (error) {
    throw new UsageError(`--queues: ${(error as Error).message}`);
  }
  return [...new Set(patterns)];
}

const create: Command = {
  name: "tokens create",
  summary: "Create an API token; its secret is printed once, on stdout.",
  flags: {
    role: {
      type: "string",
      value: "<role>",
      description: "producer (JobService), worker (Subscribe, ListWorkers) or admin (everything)",
      choices: TOKEN_ROLES,
    },
    queues: {
      type: "string",
      value: "<patterns>",
      description: "queues it may use: glob patterns, comma-separated or repeated ('emails.*', '*')",
      multiple: true,
    },
    name: { type: "string", value: "<name>", description: "a label for people (default: the role)" },
    "rate-limit": { type: "string", value: "<n>", description: "requests per second on each replica (default BATON_TOKEN_RATE_LIMIT)" },
    "max-streams": { type: "string", value: "<n>", description: "open worker streams on each replica (default BATON_TOKEN_MAX_STREAMS)" },
    "max-in-flight": {
      type: "string",
      value: "<n>",
      description: "sum of max_in_flight of its streams on each replica (default BATON_TOKEN_MAX_IN_FLIGHT)",
    },
    "expires-in": { type: "string", value: "<duration>", description: "refuse it after this long (30d, 12h); default: never expires" },
    ...databaseFlag,
  },
  outputs: RECORD_OUTPUTS,
  notes: `${NOTES}

The secret goes to stdout and nothing else does, so TOKEN=$(baton tokens create ...) keeps it.
Only its SHA-256 is stored: it cannot be shown again; revoke and create another if it is lost.
Clients send it as "authorization: Bearer <secret>".`,
  examples: [
    "baton tokens create --role worker --queues 'emails.*' --name email-workers",
    "baton tokens create --role producer --queues 'emails.*,reports' --rate-limit 50",
    "baton tokens create --role admin --queues '*' --name ops",
    "baton tokens create --role producer --queues 'ci.*' --name ci --expires-in 30d",
  ],
  async run({ flags, document, out }) {
    const role = roleFlag(flags);
    const queues = queuesFlag(flags);
    const name = flags.string("name") ?? role;
    try {
      validateTokenName(name);
    } catch (error) {
      throw new UsageError(`--${(error as Error).message}`);
    }
    const rateLimit = flags.number("rate-limit", { min: 0 });
    if (rateLimit === 0) throw new UsageError("--rate-limit must be positive (leave it out for the broker's default)");
    const maxStreams = flags.int("max-streams", { min: 1 });
    const maxInFlight = flags.int("max-in-flight", { min: 1 });
    const expiresInMs = flags.durationMs("expires-in");
    if (expiresInMs !== undefined && (expiresInMs < 1000 || expiresInMs > MAX_EXPIRES_IN_MS)) {
      throw new UsageError(`--expires-in must be between 1s and ${MAX_EXPIRES_IN_MS / 86_400_000}d, got "${flags.string("expires-in")}"`);
    }
    const secret = generateTokenSecret();
    const { tokenCreate } = await store();
    const token = await withDatabase(flags, (db) =>
      tokenCreate(db, {
        name,
        role,
        queues,
        secretSha256: hashTokenSecret(secret),
        ...(rateLimit !== undefined && { rateLimit }),
        ...(maxStreams !== undefined && { maxStreams }),
        ...(maxInFlight !== undefined && { maxInFlight }),
        ...(expiresInMs !== undefined && { expiresInSeconds: expiresInMs / 1000 }),
      }),
    );
    if (document) {
      out.document(document, { ...tokenJson(token), secret });
    } else {
      out.print(secret);
      out.note(
        `created API token ${token.id} ("${token.name}"), role ${token.role}, queues ${token.queues.join(", ")}` +
          (token.expireTime ? `, expires at ${token.expireTime.toISOString()}` : ""),
      );
      out.note("the secret above is shown only this once: store it now");
    }
    return ExitCode.ok;
  },
};

const list: Command = {
  name: "tokens list",
  aliases: ["ls"],
  summary: "List API tokens (never their secrets), revoked and expired ones included.",
  flags: { ...databaseFlag },
  // The table already shows every field: there is nothing for -o wide to add.
  outputs: RECORD_OUTPUTS,
  notes: NOTES,
  examples: ["baton tokens list", "baton tokens list --json | jq '.[] | select(.revokeTime == null)'"],
  async run({ flags, document, out }) {
    const { tokenList } = await store();
    const tokens = await withDatabase(flags, (db) => tokenList(db));
    if (document) out.document(document, tokens.map(tokenJson));
    else if (tokens.length === 0) out.note('no API tokens; create one with "baton tokens create"');
    else {
      out.print(
        table(
          [{ header: "ID", align: "right" }, "NAME", "ROLE", "QUEUES", "LIMITS", "CREATED", "EXPIRES", "REVOKED"],
          tokens.map((t) => [
            t.id,
            t.name,
            t.role,
            t.queues.join(","),
            limitsText(t),
            t.createTime.toISOString(),
            t.expireTime ? `${t.expireTime.toISOString()}${t.expireTime.getTime() <= Date.now() ? " (expired)" : ""}` : "never",
            t.revokeTime?.toISOString() ?? "-",
          ]),
        ),
      );
    }
    return ExitCode.ok;
  },
};

const revoke: Command = {
  name: "tokens revoke",
  summary: "Revoke an API token: its requests are refused and its open streams closed, on every replica.",
  positionals: [{ name: "id" }],
  flags: { ...databaseFlag },
  outputs: [],
  notes: NOTES,
  examples: ["baton tokens revoke 3"],
  async run({ args, flags, out }) {
    const id = args[0]!;
    if (!/^[1-9]\d{0,18}$/.test(id)) throw new UsageError(`"${id}" is not a token id (see "baton tokens list")`);
    const { tokenGet, tokenRevoke } = await store();
    return withDatabase(flags, async (db) => {
      const revoked = await tokenRevoke(db, id);
      if (revoked) {
        out.note(`revoked API token ${revoked.id} ("${revoked.name}"); brokers close its open streams now`);
        return ExitCode.ok;
      }
      const token = await tokenGet(db, id);
      if (!token) {
        process.stderr.write(`baton tokens revoke: not_found: API token ${id} does not exist\n`);
        return ExitCode.notFound;
      }
      out.note(`API token ${id} ("${token.name}") was already revoked at ${token.revokeTime!.toISOString()}`);
      return ExitCode.ok;
    });
  },
};

export const tokenCommands: Command[] = [create, list, revoke];
