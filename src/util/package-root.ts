import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The folder of Baton's package.json: the nearest folder above this module that has one, the
 * same from src/ (tsx) and dist/src/ (the build). Undefined when none is found (a bundled copy).
 */
export function packageRoot(): string | undefined {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, "package.json"))) {
    const parent = path.dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
  return dir;
}

/** Baton's version as its package.json says; "unknown" without one. */
export function packageVersion(): string {
  const root = packageRoot();
  if (root === undefined) return "unknown";
  const { version } = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")) as { version?: unknown };
  return typeof version === "string" ? version : "unknown";
}
