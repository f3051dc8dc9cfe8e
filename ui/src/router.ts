// A history router for the few pages of the dashboard. URLs live under the base (/ui/) so a
// page can be bookmarked and reloaded: the broker answers every /ui/* path with index.html.
import { useEffect, useState } from "preact/hooks";

const BASE = import.meta.env.BASE_URL; // "/ui/"

export interface Location {
  /** The path below the base, without a leading slash: "", "jobs", "jobs/42". */
  path: string;
  query: URLSearchParams;
}

function current(): Location {
  const pathname = window.location.pathname;
  const path = pathname.startsWith(BASE) ? pathname.slice(BASE.length) : "";
  return { path: path.replace(/\/+$/, ""), query: new URLSearchParams(window.location.search) };
}

const listeners = new Set<() => void>();
window.addEventListener("popstate", () => listeners.forEach((l) => l()));

/** The full URL of a page, e.g. href("jobs", { queue: "emails" }) = "/ui/jobs?queue=emails". */
export function href(path: string, query: Record<string, string | undefined> = {}): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value) params.set(key, value);
  const search = params.toString();
  return `${BASE}${path}${search ? `?${search}` : ""}`;
}

export function navigate(url: string, { replace = false } = {}): void {
  if (replace) window.history.replaceState(null, "", url);
  else window.history.pushState(null, "", url);
  listeners.forEach((l) => l());
}

export function useLocation(): Location {
  const [location, setLocation] = useState(current);
  useEffect(() => {
    const update = () => setLocation(current());
    listeners.add(update);
    return () => void listeners.delete(update);
  }, []);
  return location;
}

/** Client-side navigation for plain left clicks; other clicks keep the browser's behaviour. */
export function onLinkClick(event: MouseEvent): void {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const anchor = (event.target as Element | null)?.closest("a");
  if (!anchor || anchor.target || anchor.origin !== window.location.origin || !anchor.pathname.startsWith(BASE)) return;
  event.preventDefault();
  navigate(anchor.pathname + anchor.search);
}
