import { invalidArgument } from "../errors.js";

/**
 * Page tokens are opaque to clients: base64url of a keyset cursor (the last id of the page),
 * so the encoding can change without breaking anyone who treats them as strings.
 */
export function encodePageToken(lastId: string): string {
  return Buffer.from(`id:${lastId}`).toString("base64url");
}

export function decodePageToken(token: string): string {
  const decoded = Buffer.from(token, "base64url").toString();
  const match = /^id:([1-9][0-9]{0,18})$/.exec(decoded);
  if (!match) throw invalidArgument("page_token is not a token returned by ListJobs");
  return match[1]!;
}
