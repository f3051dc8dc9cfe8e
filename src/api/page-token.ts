import { invalidArgument } from "../errors.js";
import { isJobId } from "./validate.js";

/**
 * Page tokens are opaque to clients: base64url of a keyset cursor (the last id of the page),
 * so the encoding can change without breaking anyone who treats them as strings.
 */
export function encodePageToken(lastId: string): string {
  return Buffer.from(`id:${lastId}`).toString("base64url");
}

/** The longest token encodePageToken makes ("id:" and 19 digits, in base64url) is 30 characters. */
const MAX_TOKEN_LENGTH = 32;

export function decodePageToken(token: string): string {
  const id = token.length <= MAX_TOKEN_LENGTH ? /^id:(.*)$/s.exec(Buffer.from(token, "base64url").toString())?.[1] : undefined;
  // The cursor goes to the database as a bigint: 19 digits past 2^63 - 1 would overflow there.
  if (id === undefined || !isJobId(id)) throw invalidArgument("page_token is not a token returned by ListJobs");
  return id;
}
