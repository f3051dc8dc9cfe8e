import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/**
 * The version the bench actually ran: read from the installed package.json (a peer under
 * node_modules, or Baton's own), so the table cannot name a release other than the one measured.
 */
export function installedVersion(pkg: "baton" | "graphile-worker" | "pg-boss"): string {
  const relative = pkg === "baton" ? "../package.json" : `../node_modules/${pkg}/package.json`;
  const { version } = JSON.parse(readFileSync(fileURLToPath(new URL(relative, import.meta.url)), "utf8")) as { version: string };
  return version;
}
