// What the dashboard offers the caller, from GetCurrentToken. The broker is the judge of every
// call; this only spares a viewer buttons that would be refused.
import { Code, ConnectError } from "@connectrpc/connect";
import { type GetCurrentTokenResponse, TokenRole } from "../../clients/ts/src/gen/baton/v1/token_service_pb.js";

export interface Permissions {
  /** The role's name for the header ("viewer"), or undefined while unknown. */
  role: string | undefined;
  /** Cancel, retry and delete one job (producers and admins). */
  changeJobs: boolean;
  /** Everything else: bulk operations, queues, schedules (admins). */
  admin: boolean;
}

/**
 * While the answer is pending, or when the token is refused, nothing is offered. A broker that
 * predates GetCurrentToken (UNIMPLEMENTED) gets every button, and judges each call itself.
 */
export function permissionsOf(token: GetCurrentTokenResponse | undefined, error: unknown): Permissions {
  if (token === undefined) {
    const unknown = error instanceof ConnectError && error.code === Code.Unimplemented;
    return { role: undefined, changeJobs: unknown, admin: unknown };
  }
  const admin = token.role === TokenRole.ADMIN;
  return {
    role: token.authentication ? (TokenRole[token.role] ?? "unknown").toLowerCase() : undefined,
    changeJobs: admin || token.role === TokenRole.PRODUCER,
    admin,
  };
}
