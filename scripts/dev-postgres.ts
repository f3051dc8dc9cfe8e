/**
 * Runs the embedded PostgreSQL of a development install until SIGTERM or SIGINT, and prints
 * its URL on stdout once it accepts connections. scripts/check-production-build.sh uses it as
 * the database of the production build, which has no embedded PostgreSQL, as a managed
 * server would be in production.
 *   usage: npx tsx scripts/dev-postgres.ts <data-dir>
 */
import { startEmbeddedPostgres } from "../src/store/embedded.js";

const dataDir = process.argv[2];
if (dataDir === undefined) {
  process.stderr.write("usage: tsx scripts/dev-postgres.ts <data-dir>\n");
  process.exit(2);
}
const database = await startEmbeddedPostgres(dataDir);
process.stdout.write(`${database.url}\n`);
await new Promise((resolve) => {
  process.once("SIGTERM", resolve);
  process.once("SIGINT", resolve);
});
await database.stop();
