/**
 * The two Node versions the broker is held to (docs/OPERATIONS.md, "Runtime and dependencies"):
 * the floor in package.json "engines", which every production dependency must support, and
 * Node 24, the images' runtime, on which CI runs the suite a second time.
 */
import { readFileSync, realpathSync } from "node:fs";
import path from "node:path";
import semver from "semver";
import { expect, test } from "vitest";

const root = path.resolve(import.meta.dirname, "..");
const readJson = <T>(file: string) => JSON.parse(readFileSync(path.join(root, file), "utf8")) as T;

test("every production dependency supports the Node floor in package.json", () => {
  const floor = semver.minVersion(readJson<{ engines: { node: string } }>("package.json").engines.node)!.version;
  type Entry = { version?: string; dev?: boolean; engines?: { node?: string } };
  const { packages } = readJson<{ packages: Record<string, Entry> }>("package-lock.json");
  const refusing = Object.entries(packages)
    .filter(([where, entry]) => where.includes("node_modules/") && !entry.dev)
    .filter(([, entry]) => entry.engines?.node !== undefined && !semver.satisfies(floor, entry.engines.node))
    .map(([where, entry]) => `${where.slice(where.lastIndexOf("node_modules/") + 13)}@${entry.version}: node ${entry.engines!.node}`);
  expect(refusing, `production dependencies that do not support Node ${floor}`).toEqual([]);
});

// .ci/run names the Node 24 binary from scripts/install-node24.sh in BATON_TEST_NODE, so a PATH
// that lets the machine's Node back in fails here instead of passing unnoticed. Without it
// (the README's `npm test`) the suite runs on whichever node started it.
const expectedNode = process.env.BATON_TEST_NODE;

test.runIf(expectedNode)("the suite runs on the node binary BATON_TEST_NODE names", () => {
  expect(process.execPath).toBe(realpathSync(expectedNode!));
});
