// The dashboard's build: `vite build --config ui/vite.config.ts` from the repository root
// (part of `npm run build`). The broker serves the output at /ui (src/server/static-ui.ts).
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

const root = fileURLToPath(new URL(".", import.meta.url));

export default defineConfig({
  root,
  // Every asset URL is under /ui/, where the broker mounts the dashboard.
  base: "/ui/",
  // Preact's automatic JSX runtime, without a framework plugin: oxc does the transform.
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: fileURLToPath(new URL("../dist/ui", import.meta.url)),
    emptyOutDir: true,
    // Served by the broker itself to operators on current browsers.
    target: "es2022",
    reportCompressedSize: false,
    sourcemap: true,
  },
  // `npx vite --config ui/vite.config.ts` for development against a broker on :7600.
  server: {
    proxy: {
      "/baton.v1.": "http://127.0.0.1:7600",
      "/ui/config.json": "http://127.0.0.1:7600",
    },
  },
});
