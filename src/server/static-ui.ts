import { readFile, stat } from "node:fs/promises";
import type http from "node:http";
import path from "node:path";
import { packageRoot } from "../util/package-root.js";

/** Where the dashboard is mounted on the HTTP/1.1 side. */
export const UI_PREFIX = "/ui";

export interface UiConfig {
  /**
   * The built dashboard (`npm run build` writes it to `dist/ui`). `BATON_UI_DIR` overrides
   * it; the default is `dist/ui` of the package this module belongs to, from sources or build.
   */
  dir: string;
  /**
   * A link from a job's page to its trace, e.g. Jaeger's
   * `http://localhost:16686/trace/{traceId}`. Placeholders: `{chainId}` (always known: one
   * trace per chain), `{jobId}`, `{queue}`, and `{traceId}` (only when the chain's root job
   * carries a W3C `traceparent` header, since the Job message has no trace id). Empty hides
   * trace links. From `BATON_UI_TRACE_URL_TEMPLATE`.
   */
  traceUrlTemplate: string;
}

export function uiConfigFromEnv(env: NodeJS.ProcessEnv = process.env): UiConfig {
  return {
    dir: path.resolve(env.BATON_UI_DIR || defaultUiDir()),
    traceUrlTemplate: env.BATON_UI_TRACE_URL_TEMPLATE ?? "",
  };
}

/** `<package root>/dist/ui`. */
function defaultUiDir(): string {
  const root = packageRoot();
  return root === undefined ? path.resolve("dist/ui") : path.join(root, "dist", "ui");
}

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".map": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".txt": "text/plain; charset=utf-8",
};

/**
 * The dashboard talks only to this origin; its buttons change state, so no other site may
 * frame it. Inline styles are allowed for the widths of progress and timeline bars.
 */
const SECURITY_HEADERS = {
  "content-security-policy":
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "same-origin",
};

export type UiHandler = (req: http.IncomingMessage, res: http.ServerResponse) => boolean;

/**
 * Serves the dashboard: `/ui` redirects to `/ui/`, `/ui/config.json` is the runtime config,
 * files of the build are served as they are (hashed `assets/` cached for good), and every
 * other path under `/ui/` gets index.html so the single-page app's URLs survive a reload.
 * Returns false for requests outside `/ui` (and `/`, which redirects to the dashboard).
 */
export function createUiHandler(config: UiConfig): UiHandler {
  const configJson = JSON.stringify({ traceUrlTemplate: config.traceUrlTemplate });
  return (req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const pathname = url.pathname;
    if (pathname === "/" && (req.method === "GET" || req.method === "HEAD")) {
      redirect(res, `${UI_PREFIX}/`);
      return true;
    }
    if (pathname !== UI_PREFIX && !pathname.startsWith(`${UI_PREFIX}/`)) return false;
    if (req.method !== "GET" && req.method !== "HEAD") {
      send(req, res, 405, { "content-type": "text/plain", allow: "GET, HEAD" }, "method not allowed\n");
      return true;
    }
    if (pathname === UI_PREFIX) {
      redirect(res, `${UI_PREFIX}/${url.search}`);
      return true;
    }
    if (pathname === `${UI_PREFIX}/config.json`) {
      send(req, res, 200, { "content-type": "application/json", "cache-control": "no-store" }, configJson);
      return true;
    }
    serveFile(req, res, config.dir, pathname.slice(UI_PREFIX.length + 1)).catch((error: unknown) => {
      if (!res.headersSent) send(req, res, 500, { "content-type": "text/plain" }, "internal error\n");
      else res.destroy(error instanceof Error ? error : undefined);
    });
    return true;
  };
}

async function serveFile(req: http.IncomingMessage, res: http.ServerResponse, dir: string, relative: string): Promise<void> {
  let decoded: string;
  try {
    decoded = decodeURIComponent(relative);
  } catch {
    send(req, res, 400, { "content-type": "text/plain" }, "bad path\n");
    return;
  }
  const file = path.resolve(dir, decoded);
  const inside = file.startsWith(dir + path.sep) && !decoded.split("/").some((part) => part.startsWith("."));
  if (inside && (await isFile(file))) {
    const immutable = decoded.startsWith("assets/");
    const type = CONTENT_TYPES[path.extname(file)] ?? "application/octet-stream";
    send(req, res, 200, { "content-type": type, "cache-control": immutable ? "public, max-age=31536000, immutable" : "no-cache" }, await readFile(file));
    return;
  }
  // A missing asset is a 404; any other path is a page of the app.
  if (decoded.startsWith("assets/") || path.extname(decoded) !== "") {
    send(req, res, 404, { "content-type": "text/plain" }, "not found\n");
    return;
  }
  const index = path.join(dir, "index.html");
  if (!(await isFile(index))) {
    send(req, res, 503, { "content-type": "text/plain" }, `the dashboard is not built (no ${index}): run npm run build\n`);
    return;
  }
  send(req, res, 200, { "content-type": CONTENT_TYPES[".html"]!, "cache-control": "no-cache" }, await readFile(index));
}

async function isFile(file: string): Promise<boolean> {
  try {
    return (await stat(file)).isFile();
  } catch {
    return false;
  }
}

function redirect(res: http.ServerResponse, location: string): void {
  res.writeHead(302, { location, "content-type": "text/plain" });
  res.end(`see ${location}\n`);
}

function send(req: http.IncomingMessage, res: http.ServerResponse, status: number, headers: Record<string, string>, body: string | Buffer): void {
  res.writeHead(status, { ...SECURITY_HEADERS, ...headers, "content-length": String(Buffer.byteLength(body)) });
  res.end(req.method === "HEAD" ? undefined : body);
}

let defaultHandler: UiHandler | undefined;

/**
 * The broker's dashboard handler, configured from the environment on first use
 * (BATON_UI_DIR, BATON_UI_TRACE_URL_TEMPLATE). True when it answered the request.
 */
export function serveUi(req: http.IncomingMessage, res: http.ServerResponse): boolean {
  defaultHandler ??= createUiHandler(uiConfigFromEnv());
  return defaultHandler(req, res);
}
