// Tiny DOM helpers: every value from the gateway or the user goes through
// text nodes (never innerHTML), so nothing a log contains can run as markup.

export type Child = Node | string | number | null | undefined | false | Child[];
type Handler = (ev: Event) => void;
export type Attrs = Record<string, string | number | boolean | Handler | null | undefined>;

function append(parent: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(parent, c);
    else if (c instanceof Node) parent.appendChild(c);
    else parent.appendChild(document.createTextNode(String(c)));
  }
}

function setAttrs(el: Element, attrs: Attrs | null | undefined): void {
  if (!attrs) return;
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (typeof v === "function") el.addEventListener(k.replace(/^on/, ""), v);
    else if (k === "value" && "value" in el) (el as HTMLInputElement).value = String(v);
    else if (k === "checked" && el instanceof HTMLInputElement) el.checked = Boolean(v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
}

/** An HTML element with attributes (`onclick` etc. become listeners) and children. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs?: Attrs | null, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

const SVG_NS = "http://www.w3.org/2000/svg";

/** An SVG element. */
export function s<K extends keyof SVGElementTagNameMap>(tag: K, attrs?: Attrs | null, ...children: Child[]): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

/** Replaces the children of `el`. */
export function mount(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

/** A `<code>` with a hex string that wraps anywhere. */
export function hex(value: string | null | undefined, attrs?: Attrs): HTMLElement {
  return h("code", { class: "hex", ...attrs }, value ?? "—");
}

/** First and last characters of a hash, the full value in the tooltip. */
export function shortHex(value: string | null | undefined): HTMLElement {
  if (!value) return h("span", { class: "muted" }, "—");
  return h("code", { class: "hex-short", title: value }, `${value.slice(0, 8)}…${value.slice(-6)}`);
}

/** A pill showing a state. `kind` picks the colour. */
export function badge(text: string, kind: "ok" | "bad" | "warn" | "info" | "muted" = "info", attrs?: Attrs): HTMLElement {
  return h("span", { class: `badge badge-${kind}`, ...attrs }, text);
}

/** A definition list from label/value pairs. */
export function facts(rows: Array<[string, Child]>, attrs?: Attrs): HTMLElement {
  return h("dl", { class: "facts", ...attrs }, rows.map(([k, v]) => [h("dt", null, k), h("dd", null, v)]));
}

/** An error box with code, member and message. */
export function errorBox(err: unknown, attrs?: Attrs): HTMLElement {
  const e = err as { status?: number; code?: string; member?: string | null; message?: string };
  return h(
    "div",
    { class: "alert alert-bad", role: "alert", ...attrs },
    e.status ? h("strong", null, `HTTP ${e.status} `) : null,
    e.code ? h("code", { class: "err-code" }, e.code) : null,
    e.member ? [" at ", h("code", { class: "err-member" }, e.member)] : null,
    h("div", { class: "err-message" }, e.message ?? String(err)),
  );
}

/** Offers `text` as a file download. */
export function download(filename: string, text: string, type = "application/json"): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h("a", { href: url, download: filename, hidden: true });
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** A table in a horizontally scrolling wrapper (phone widths). */
export function table(head: string[], rows: Child[][], attrs?: Attrs): HTMLElement {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      attrs ?? null,
      h("thead", null, h("tr", null, head.map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", null, rows.map((r) => h("tr", null, r.map((c) => h("td", null, c))))),
    ),
  );
}
