import { invalidArgument } from "../errors.js";
import { isJobId, isQueueName } from "./validate.js";

/**
 * Page tokens are opaque to clients: base64url of a keyset cursor (the last key of the page,
 * after a prefix naming what it keys), so the encoding can change without breaking anyone who
 * treats them as strings.
 */
function encode(prefix: string, lastKey: string): string {
  return Buffer.from(`${prefix}:${lastKey}`).toString("base64url");
}

/** The key after `prefix:` in a token of at most `maxLength` characters, or undefined. */
function decode(token: string, prefix: string, maxLength: number): string | undefined {
  if (token.length > maxLength) return undefined;
  const text = Buffer.from(token, "base64url").toString();
  return text.startsWith(`${prefix}:`) ? text.slice(prefix.length + 1) : undefined;
}

/** The page size of a List call that names none. */
export const DEFAULT_PAGE_SIZE = 100;
/** The largest page_size accepted; the TypeScript client's MAX_PAGE_SIZE must equal it. */
export const MAX_PAGE_SIZE = 1000;

/** page_size of a List call: 0 means DEFAULT_PAGE_SIZE, at most MAX_PAGE_SIZE. */
export function pageSize(value: number): number {
  if (value < 0 || value > MAX_PAGE_SIZE) {
    throw invalidArgument(`page_size must be between 1 and ${MAX_PAGE_SIZE} (0 means ${DEFAULT_PAGE_SIZE})`);
  }
  return value === 0 ? DEFAULT_PAGE_SIZE : value;
}

/** ListJobs: the cursor is the last job id. */
export function encodePageToken(lastId: string): string {
  return encode("id", lastId);
}

/** The longest token encodePageToken makes ("id:" and 19 digits, in base64url) is 30 characters. */
const MAX_TOKEN_LENGTH = 32;

export function decodePageToken(token: string): string {
  const id = decode(token, "id", MAX_TOKEN_LENGTH);
  // The cursor goes to the database as a bigint: 19 digits past 2^63 - 1 would overflow there.
  if (id === undefined || !isJobId(id)) throw invalidArgument("page_token is not a token returned by ListJobs");
  return id;
}

/** What a list keyed by name pages through: the prefix tells a ListQueues token from a ListSchedules one. */
export type NamedList = "ListQueues" | "ListSchedules";

const NAME_PREFIX: Record<NamedList, string> = { ListQueues: "queue", ListSchedules: "schedule" };

/** Names are at most 128 ASCII characters (validateQueueName): "schedule:" and 128, in base64url, is 183 characters. */
const MAX_NAME_TOKEN_LENGTH = 184;

/** ListQueues, ListSchedules: the cursor is the last name. */
export function encodeNamePageToken(list: NamedList, lastName: string): string {
  return encode(NAME_PREFIX[list], lastName);
}

/** The last name of the previous page: queue and schedule names both follow the queue-name rule. */
export function decodeNamePageToken(list: NamedList, token: string): string {
  const name = decode(token, NAME_PREFIX[list], MAX_NAME_TOKEN_LENGTH);
  if (name === undefined || !isQueueName(name)) throw invalidArgument(`page_token is not a token returned by ${list}`);
  return name;
}
