import { readFileSync } from "node:fs";
import type { Queryable } from "../store/database.js";
import { TOKEN_ROLES, type TokenRole } from "../store/token-role.js";
import { tokenCreate, tokenFindBySecret } from "../store/tokens.js";
import type { Logger } from "../util/log.js";
import { hashTokenSecret, validateQueuePattern, validateTokenName } from "./api-tokens.js";

/**
 * The API tokens file (BATON_AUTH_TOKENS_FILE): tokens a deployment hands the broker from a
 * secret store (a Kubernetes Secret), so the first credentials exist without running
 * `baton tokens create` against the database. One token per line, four fields separated by
 * spaces or tabs; blank lines and lines starting with '#' are skipped:
 *
 *   # name   role    queues            secret
 *   ops      admin   *                 baton_3q2…
 *   mailer   worker  emails.*,reports  baton_Zk9…
 *
 * The queues are comma-separated glob patterns as for `baton tokens create --queues`; the
 * secret is "baton_" and at least 32 base64url characters (what `baton tokens create` prints,
 * or "baton_" followed by `openssl rand -base64 32 | tr '+/' '-_' | tr -d '='`).
 */

export interface TokenSeed {
  /** 1-based line of the file, for messages. */
  line: number;
  name: string;
  role: TokenRole;
  queues: string[];
  secret: string;
}

/** At least 192 random bits after the prefix: the strength of what generateTokenSecret makes, or near it. */
const SECRET = /^baton_[A-Za-z0-9_-]{32,}$/;

/** Reads and checks the whole file; throws naming the file and the first bad line. */
export function readTokensFile(file: string): TokenSeed[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new Error(`cannot read BATON_AUTH_TOKENS_FILE "${file}": ${(error as Error).message}`, { cause: error });
  }
  const seeds: TokenSeed[] = [];
  const lineOfSecret = new Map<string, number>();
  for (const [index, raw] of text.split(/\r?\n/).entries()) {
    const line = index + 1;
    const content = raw.trim();
    if (content === "" || content.startsWith("#")) continue;
    try {
      const seed = parseLine(content, line);
      const earlier = lineOfSecret.get(seed.secret);
      if (earlier !== undefined) throw new Error(`its secret is the one of line ${earlier}: every token needs its own`);
      lineOfSecret.set(seed.secret, line);
      seeds.push(seed);
    } catch (error) {
      // The message never quotes the line: it may hold a secret.
      throw new Error(`BATON_AUTH_TOKENS_FILE "${file}", line ${line}: ${(error as Error).message}`, { cause: error });
    }
  }
  return seeds;
}

function parseLine(content: string, line: number): TokenSeed {
  const fields = content.split(/\s+/);
  if (fields.length !== 4) throw new Error(`expected 4 fields "name role queues secret", got ${fields.length}`);
  const [name, role, queues, secret] = fields as [string, string, string, string];
  validateTokenName(name);
  if (!(TOKEN_ROLES as readonly string[]).includes(role)) throw new Error(`role must be one of ${TOKEN_ROLES.join(", ")}, got "${role.slice(0, 40)}"`);
  const patterns = queues.split(",").filter((pattern) => pattern !== "");
  if (patterns.length === 0) throw new Error(`queues must name at least one glob pattern ('emails.*', or '*' for every queue)`);
  patterns.forEach(validateQueuePattern);
  if (!SECRET.test(secret)) throw new Error(`the secret must be "baton_" followed by at least 32 base64url characters (A-Z, a-z, 0-9, '-', '_')`);
  return { line, name, role: role as TokenRole, queues: [...new Set(patterns)], secret };
}

/** PostgreSQL's unique_violation. */
const UNIQUE_VIOLATION = "23505";

/**
 * Creates the tokens of the file that the database does not hold yet, by their secret's
 * digest, so every start (and every replica) may run it. A token already there is left as it
 * is: revoked stays revoked, and a name, role or queues changed in the file is not applied
 * (tokens are immutable: revoke the old one and give the new one its own secret); both are
 * logged.
 */
export async function seedTokens(db: Queryable, seeds: TokenSeed[], log: Logger): Promise<void> {
  let created = 0;
  for (const seed of seeds) {
    const secretSha256 = hashTokenSecret(seed.secret);
    const existing = await tokenFindBySecret(db, secretSha256);
    if (existing) {
      const where = { line: seed.line, token: existing.id, name: existing.name };
      if (existing.revokeTime !== null) log.warn("the tokens file names a revoked API token; it stays revoked", where);
      else if (existing.role !== seed.role || existing.queues.join(",") !== seed.queues.join(",")) {
        log.warn("the tokens file gives an existing API token another role or queues; tokens do not change, the stored one is kept", {
          ...where,
          role: existing.role,
          queues: existing.queues,
        });
      }
      continue;
    }
    try {
      await tokenCreate(db, { name: seed.name, role: seed.role, queues: seed.queues, secretSha256 });
      created++;
    } catch (error) {
      // Another replica created it between our lookup and our insert.
      if ((error as { code?: unknown }).code !== UNIQUE_VIOLATION) throw error;
    }
  }
  log.info("API tokens file applied", { tokens: seeds.length, created });
}
