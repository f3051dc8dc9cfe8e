// Copies the SQL files that the compiled broker reads at run time next to its JavaScript. The
// old copy goes first: a migration renamed or removed in src/ must not linger in dist/, where
// the broker would apply it.
import { cpSync, rmSync } from "node:fs";

rmSync("dist/src/store/sql", { recursive: true, force: true });
cpSync("src/store/sql", "dist/src/store/sql", { recursive: true });
