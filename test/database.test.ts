import { expect, test } from "vitest";
import { createDatabase } from "../src/store/database.js";
import { createTestDatabase } from "./helpers/database.js";

test("pool connections reuse generic plans and keep the startup options of the URL", async () => {
  const url = new URL(await createTestDatabase());
  url.searchParams.set("options", "-c statement_timeout=4321");
  const db = createDatabase({ url: url.toString(), maxConnections: 1 });
  try {
    const show = async (setting: string) => (await db.pool.query(`show ${setting}`)).rows[0][setting];
    expect(await show("plan_cache_mode")).toBe("force_generic_plan");
    expect(await show("statement_timeout")).toBe("4321ms");
  } finally {
    await db.close();
  }
});
