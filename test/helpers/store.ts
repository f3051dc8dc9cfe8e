import { afterAll, beforeAll } from "vitest";
import { type Database, createDatabase } from "../../src/store/database.js";
import type { NewJob } from "../../src/store/job-record.js";
import { createTestDatabase } from "./database.js";

/**
 * For the store's conformance tests: a pool on a fresh migrated database, opened before the
 * file's tests and closed after them. Read `db` and `url` inside tests (they are set by then).
 */
export function useStoreDatabase(): { readonly db: Database; readonly url: string } {
  let db: Database | undefined;
  let url: string | undefined;
  beforeAll(async () => {
    url = await createTestDatabase();
    db = createDatabase({ url, maxConnections: 2 });
  });
  afterAll(async () => {
    await db?.close();
  });
  return {
    get db() {
      if (!db) throw new Error("the store database is opened in beforeAll; use it inside tests");
      return db;
    },
    get url() {
      if (!url) throw new Error("the store database is created in beforeAll; use it inside tests");
      return url;
    },
  };
}

/** A job request with the defaults a validated enqueue has. */
export const newJob = (queue: string, extra: Partial<NewJob> = {}): NewJob => ({ queue, payload: new Uint8Array(), headers: {}, priority: 0, ...extra });
