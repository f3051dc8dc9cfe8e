// Copies the SQL files that the compiled broker reads at run time next to its JavaScript.
import { cpSync } from "node:fs";

cpSync("src/store/sql", "dist/src/store/sql", { recursive: true });
