// Hash routes (#/logs?site_id=X, #/batches/ID): the gateway serves one
// index.html at `/`, and every API path stays the gateway's own.

export interface Ctx {
  /** Path segments after `#/`, e.g. ["logs", "12"]. */
  path: string[];
  params: URLSearchParams;
  /** False once the user navigated elsewhere: late answers must not draw. */
  alive(): boolean;
  /** Runs `fn` when the page is left. */
  onLeave(fn: () => void): void;
}

export type Page = (root: HTMLElement, ctx: Ctx) => void | Promise<void>;

/** `#/a/b?x=1` for path ["a","b"] and query {x: 1} (empty values dropped). */
export function href(path: string[], q: Record<string, string | number | null | undefined> = {}): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== null && v !== undefined && v !== "") p.set(k, String(v));
  const qs = p.toString();
  return `#/${path.map(encodeURIComponent).join("/")}${qs ? `?${qs}` : ""}`;
}

export function go(path: string[], q: Record<string, string | number | null | undefined> = {}): void {
  location.hash = href(path, q);
}

export function parseHash(hash: string): { path: string[]; params: URLSearchParams } {
  const raw = hash.replace(/^#\/?/, "");
  const [p, q] = raw.split("?", 2) as [string, string | undefined];
  const path = p.split("/").filter(Boolean).map((s) => decodeURIComponent(s));
  return { path, params: new URLSearchParams(q ?? "") };
}
