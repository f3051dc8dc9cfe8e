import { createHash, randomBytes } from "node:crypto";

/**
 * What an API token is: a random secret that only its holder knows (the database keeps its
 * SHA-256), a role, and the glob patterns of the queues it may use.
 */

/** Marks a string as a Baton secret, for people and for secret scanners. */
const SECRET_PREFIX = "baton_";

/** 256 random bits, base64url: `baton_` and 43 characters. */
export function generateTokenSecret(): string {
  return SECRET_PREFIX + randomBytes(32).toString("base64url");
}

/**
 * The digest stored and looked up. A plain SHA-256 suffices: the secret is random and long,
 * so there is no dictionary to try, and the lookup stays one index probe per cache miss.
 */
export function hashTokenSecret(secret: string): Buffer {
  return createHash("sha256").update(secret, "utf8").digest();
}

/** A token's name: a label for people, shown by `baton tokens list` and in logs. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$/;

/** Throws with a message naming the name when it is malformed. */
export function validateTokenName(name: string): string {
  if (!NAME.test(name)) {
    throw new Error(`name "${name.slice(0, 140)}" is invalid: use 1-128 letters, digits, '_', '-', '.', ':' or '@', starting with a letter or digit`);
  }
  return name;
}

/** A queue-name pattern: the queue-name rule with '*' allowed anywhere (the api_tokens CHECK). */
const PATTERN = /^[A-Za-z0-9*][A-Za-z0-9_.:*-]{0,127}$/;

/** Throws with a message naming the pattern when it is malformed. */
export function validateQueuePattern(pattern: string): string {
  if (!PATTERN.test(pattern)) {
    throw new Error(
      `queue pattern "${pattern.slice(0, 140)}" is invalid: use 1-128 letters, digits, '_', '-', '.', ':' or '*' (any run of characters), starting with a letter, digit or '*'`,
    );
  }
  return pattern;
}

/** A matcher for glob patterns: `emails.*` matches `emails.welcome`, not `emails`; `*` matches all. */
export function compileQueuePatterns(patterns: string[]): (queue: string) => boolean {
  const expressions = patterns.map(
    (pattern) => new RegExp(`^${pattern.split("*").map((part) => part.replace(/[.:-]/g, "\\$&")).join(".*")}$`),
  );
  return (queue) => expressions.some((expression) => expression.test(queue));
}
