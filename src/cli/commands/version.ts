import { readFileSync } from "node:fs";
import path from "node:path";
import { type Command, RECORD_OUTPUTS } from "../args.js";
import { ExitCode } from "../errors.js";
import { details } from "../output.js";

/**
 * `baton version` (also `baton --version`, `baton -v`): this package's version and the
 * runtime it runs on. The build records no source revision (the image is built without .git),
 * so there is none to show.
 */

export interface VersionInfo {
  version: string;
  node: string;
  platform: string;
  arch: string;
}

/**
 * The version in baton's package.json: two directories up from src/cli/commands/ under tsx,
 * three from dist/src/cli/commands/ when compiled. The nearest package.json named "baton"
 * is the right one in both, and in the container image.
 */
function packageVersion(): string {
  for (let dir = import.meta.dirname; ; dir = path.dirname(dir)) {
    try {
      const manifest = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")) as { name?: string; version?: string };
      if (manifest.name === "baton" && manifest.version) return manifest.version;
    } catch {
      // No package.json here (or not readable): keep looking further up.
    }
    if (path.dirname(dir) === dir) throw new Error("cannot find baton's package.json to read its version");
  }
}

export function versionInfo(): VersionInfo {
  return { version: packageVersion(), node: process.version, platform: process.platform, arch: process.arch };
}

export const versionCommand: Command = {
  name: "version",
  summary: "Show baton's version and the Node.js it runs on (also: baton --version, baton -v).",
  flags: {},
  outputs: RECORD_OUTPUTS,
  offline: true,
  examples: ["baton version", "baton --version", "baton version -o json | jq -r .version"],
  run({ document, out }) {
    const info = versionInfo();
    if (document) out.document(document, info);
    else out.print(details([["baton", info.version], ["node", `${info.node} (${info.platform} ${info.arch})`]]));
    return Promise.resolve(ExitCode.ok);
  },
};
