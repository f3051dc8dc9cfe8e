// Every page of the dashboard and its path below the base (/ui/). Pure, so that the browser
// test visits each route there is: a new page added here is covered without touching it.

export const ROUTES = [
  { name: "queues", path: "" },
  { name: "queue", path: "queues/:queue" },
  { name: "jobs", path: "jobs" },
  { name: "job", path: "jobs/:id" },
  { name: "dead", path: "dead" },
  { name: "schedules", path: "schedules" },
  { name: "workers", path: "workers" },
] as const;

export type RouteName = (typeof ROUTES)[number]["name"];

export interface Match {
  name: RouteName;
  /** The `:name` parts of the path, decoded. */
  params: Record<string, string>;
}

/** The route of a path ("jobs/42"); an unknown path is the queues overview. */
export function matchRoute(path: string): Match {
  const parts = path.split("/");
  for (const route of ROUTES) {
    const pattern = route.path.split("/");
    if (pattern.length !== parts.length) continue;
    const params: Record<string, string> = {};
    const matches = pattern.every((segment, i) => {
      const part = parts[i]!;
      if (segment.startsWith(":")) {
        if (part === "") return false;
        params[segment.slice(1)] = decodeURIComponent(part);
        return true;
      }
      return segment === part;
    });
    if (matches) return { name: route.name, params };
  }
  return { name: "queues", params: {} };
}

/** A route's path with its parameters filled in, encoded. */
export function routePath(path: string, params: Record<string, string>): string {
  return path
    .split("/")
    .map((segment) => (segment.startsWith(":") ? encodeURIComponent(params[segment.slice(1)] ?? "") : segment))
    .join("/");
}
