import { create } from "@bufbuild/protobuf";
import { type ServiceImpl, createContextKey } from "@connectrpc/connect";
import { GetCurrentTokenResponseSchema, TokenRole, type TokenService } from "../../clients/ts/src/gen/baton/v1/token_service_pb.js";
import type { TokenRecord } from "../store/tokens.js";

/** The token of the call, set by the auth interceptor; undefined when authentication is off. */
export const callerToken = createContextKey<Pick<TokenRecord, "name" | "role" | "queues"> | undefined>(undefined, { description: "the caller's API token" });

const ROLES: Record<TokenRecord["role"], TokenRole> = {
  admin: TokenRole.ADMIN,
  producer: TokenRole.PRODUCER,
  worker: TokenRole.WORKER,
  viewer: TokenRole.VIEWER,
};

export function createTokenService(): Partial<ServiceImpl<typeof TokenService>> {
  return {
    getCurrentToken(_request, context) {
      const token = context.values.get(callerToken);
      if (!token) return create(GetCurrentTokenResponseSchema, { authentication: false, role: TokenRole.ADMIN });
      return create(GetCurrentTokenResponseSchema, { authentication: true, name: token.name, role: ROLES[token.role], queues: token.queues });
    },
  };
}
