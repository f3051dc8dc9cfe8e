/**
 * The roles of API tokens (src/server/access.ts says what each may call). A module of its own,
 * without statements, so that the CLI can name them without loading the store.
 */
export const TOKEN_ROLES = ["producer", "worker", "admin", "viewer"] as const;
export type TokenRole = (typeof TOKEN_ROLES)[number];
