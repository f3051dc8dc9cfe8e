import type { BatonServices } from "../../clients/ts/src/services.js";
import { connectServices } from "../../clients/ts/src/transport.js";

/**
 * How long one ordinary call may take. A command line should fail rather than hang when the
 * address points at something that accepts connections but never answers.
 */
export const CALL_TIMEOUT_MS = 60_000;

/**
 * The TypeScript client's services for the broker at `url`. With authentication on, the API
 * token comes from BATON_TOKEN.
 */
export function connect(url: string, token = process.env.BATON_TOKEN): BatonServices {
  return connectServices({ baseUrl: url, token, timeoutMs: CALL_TIMEOUT_MS });
}
