import type { Queryable } from "./database.js";
import type { TokenRole } from "./token-role.js";
import { loadStatements, param, row, run, statement } from "./statements.js";

const id = param<string>();

const sql = loadStatements(new URL("./sql/tokens.sql", import.meta.url), {
  TokenCreate: statement(
    {
      name: param<string>(),
      role: param<TokenRole>(),
      queues: param<string[]>(),
      secretSha256: param<Buffer>(),
      rateLimit: param<number | null>(),
      maxStreams: param<number | null>(),
      maxInFlight: param<number | null>(),
      expiresInSeconds: param<number | null>(),
    },
    row<TokenRow>(),
  ),
  TokenList: statement({}, row<TokenRow>()),
  TokenGet: statement({ id }, row<TokenRow>()),
  TokenFindBySecret: statement({ secretSha256: param<Buffer>() }, row<TokenRow & { expires_in_ms: string | null }>()),
  TokenRevoke: statement({ id }, row<TokenRow>()),
  TokenRevokedAmong: statement({ ids: param<string[]>() }, row<{ id: string }>()),
});


/** An API token as stored: never its secret, only the secret's SHA-256. */
export interface TokenRecord {
  /** bigint, as text. */
  id: string;
  name: string;
  role: TokenRole;
  /** Glob patterns of the queues it may use ('*' matches any run of characters). */
  queues: string[];
  /** Per-token overrides; null takes the broker's default. */
  rateLimit: number | null;
  maxStreams: number | null;
  maxInFlight: number | null;
  createTime: Date;
  revokeTime: Date | null;
  /** Null: it never expires. */
  expireTime: Date | null;
}

/** A token found by its secret, with the time it has left (by database time), if it expires. */
export interface FoundToken extends TokenRecord {
  /** Milliseconds until it expires (negative once it has); null when it never expires. */
  expiresInMs: number | null;
}

export interface NewToken {
  name: string;
  role: TokenRole;
  queues: string[];
  secretSha256: Buffer;
  rateLimit?: number;
  maxStreams?: number;
  maxInFlight?: number;
  /** Seconds from now (database time) until it expires; undefined never expires. */
  expiresInSeconds?: number;
}

interface TokenRow {
  id: string;
  name: string;
  role: TokenRole;
  queues: string[];
  rate_limit: number | null;
  max_streams: number | null;
  max_in_flight: number | null;
  create_time: Date;
  revoke_time: Date | null;
  expire_time: Date | null;
}

const toRecord = (row: TokenRow): TokenRecord => ({
  id: row.id,
  name: row.name,
  role: row.role,
  queues: row.queues,
  rateLimit: row.rate_limit,
  maxStreams: row.max_streams,
  maxInFlight: row.max_in_flight,
  createTime: row.create_time,
  revokeTime: row.revoke_time,
  expireTime: row.expire_time,
});

export async function tokenCreate(db: Queryable, token: NewToken): Promise<TokenRecord> {
  const { rows } = await run(db, sql.TokenCreate, {
    name: token.name,
    role: token.role,
    queues: token.queues,
    secretSha256: token.secretSha256,
    rateLimit: token.rateLimit ?? null,
    maxStreams: token.maxStreams ?? null,
    maxInFlight: token.maxInFlight ?? null,
    expiresInSeconds: token.expiresInSeconds ?? null,
  });
  return toRecord(rows[0]!);
}

export async function tokenList(db: Queryable): Promise<TokenRecord[]> {
  const { rows } = await run(db, sql.TokenList, {});
  return rows.map(toRecord);
}

export async function tokenGet(db: Queryable, id: string): Promise<TokenRecord | undefined> {
  const { rows } = await run(db, sql.TokenGet, { id });
  return rows[0] && toRecord(rows[0]);
}

export async function tokenFindBySecret(db: Queryable, secretSha256: Buffer): Promise<FoundToken | undefined> {
  const { rows } = await run(db, sql.TokenFindBySecret, { secretSha256 });
  const row = rows[0];
  return row && { ...toRecord(row), expiresInMs: row.expires_in_ms === null ? null : Number(row.expires_in_ms) };
}

/** Revokes a token and notifies every replica; undefined when it is unknown or already revoked. */
export async function tokenRevoke(db: Queryable, id: string): Promise<TokenRecord | undefined> {
  const { rows } = await run(db, sql.TokenRevoke, { id });
  return rows[0] && toRecord(rows[0]);
}

/** The ids among `ids` that are revoked or deleted. */
export async function tokenRevokedAmong(db: Queryable, ids: string[]): Promise<string[]> {
  const { rows } = await run(db, sql.TokenRevokedAmong, { ids });
  return rows.map((row) => row.id);
}
