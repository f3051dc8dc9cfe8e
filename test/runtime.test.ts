/**
 * CI runs the suite a second time on Node 24 (scripts/install-node24.sh, .ci/run) and names
 * that binary in BATON_TEST_NODE. This checks that the test processes really run on it, so a
 * PATH that lets the machine's Node back in fails instead of passing unnoticed. Without
 * BATON_TEST_NODE (the README's `npm test`) the suite runs on whichever node started it.
 */
import { realpathSync } from "node:fs";
import { expect, test } from "vitest";

const expected = process.env.BATON_TEST_NODE;

test.runIf(expected)("the suite runs on the node binary BATON_TEST_NODE names", () => {
  expect(process.execPath).toBe(realpathSync(expected!));
});
