// Logs: a filterable, cursor-paginated table, and a log's detail with its
// canonical JSON and leaf hash recomputed in the browser.

import { get, type LogEntry, type LogPage, receiptText, withQuery } from "../api";
import { badge, download, errorBox, facts, h, hex, mount, shortHex, table } from "../dom";
import * as fmt from "../format";
import { type Ctx, go, href } from "../router";
import { apiError, field, stepsList, verdict } from "../ui";
import { canonicalText, leafHash, loadWasm, normalize, verifyReceipt } from "../wasm";
import { pinnedKey, VERIFY_HANDOFF } from "./verify";

const FILTERS = ["site_id", "iot_device_id", "meter_id", "from", "to", "batch_id", "unbatched"] as const;

/** Cursors of the pages before the current one, per filter set (for "Previous"). */
const history = new Map<string, string[]>();

function filterKey(params: URLSearchParams): string {
  return FILTERS.map((f) => `${f}=${params.get(f) ?? ""}`).join("&") + `&limit=${params.get("limit") ?? ""}`;
}

function query(params: URLSearchParams, extra: Record<string, string | null> = {}): Record<string, string | null> {
  const q: Record<string, string | null> = {};
  for (const f of FILTERS) q[f] = params.get(f);
  q["limit"] = params.get("limit");
  return { ...q, ...extra };
}

export async function logsPage(root: HTMLElement, ctx: Ctx): Promise<void> {
  if (ctx.path[1]) return logDetail(root, ctx, ctx.path[1]);
  const p = ctx.params;
  const limit = p.get("limit") ?? "25";
  const cursor = p.get("cursor");
  const key = filterKey(p);
  const stack = history.get(key) ?? [];
  if (!cursor) history.set(key, []);

  const input = (name: string, placeholder = "") => h("input", { name, value: p.get(name) ?? "", placeholder, autocomplete: "off", spellcheck: "false" });
  const form = h(
    "form",
    {
      class: "filters",
      "data-testid": "log-filters",
      onsubmit: (ev: Event) => {
        ev.preventDefault();
        const f = new FormData(ev.currentTarget as HTMLFormElement);
        const q: Record<string, string> = {};
        for (const [k, v] of f.entries()) if (String(v).trim()) q[k] = String(v).trim();
        go(["logs"], q);
      },
    },
    field("Site", input("site_id", "PLANT-01")),
    field("Device", input("iot_device_id")),
    field("Meter", input("meter_id")),
    field("From (ts_start ≥)", input("from", "2025-12-01T00:00:00Z")),
    field("To (ts_start <)", input("to", "2025-12-02T00:00:00Z")),
    field("Batch", input("batch_id")),
    field("Batched?", h("select", { name: "unbatched" },
      h("option", { value: "" }, "any"),
      h("option", { value: "true", selected: p.get("unbatched") === "true" }, "not yet batched"),
      h("option", { value: "false", selected: p.get("unbatched") === "false" }, "batched"))),
    field("Per page", h("select", { name: "limit" }, ["10", "25", "100", "500"].map((n) => h("option", { value: n, selected: n === limit }, n)))),
    h("div", { class: "filter-actions" },
      h("button", { type: "submit", class: "btn btn-primary" }, "Apply"),
      h("a", { class: "btn", href: "#/logs" }, "Clear")),
  );
  const results = h("div", { class: "results" }, h("p", { class: "muted" }, "loading…"));
  mount(root, h("div", { class: "page-head" }, h("h1", null, "Logs")), h("section", { class: "card" }, form), results);

  let page: LogPage;
  try {
    page = await get<LogPage>(withQuery("/api/v1/logs", { ...query(p, {}), limit, cursor }));
  } catch (e) {
    if (ctx.alive()) mount(results, apiError(e));
    return;
  }
  if (!ctx.alive()) return;
  const pager = h(
    "div",
    { class: "pager" },
    cursor ? h("button", { type: "button", class: "btn", "data-testid": "page-prev", onclick: () => {
      const prev = stack.slice(0, -1);
      history.set(key, prev);
      go(["logs"], query(p, { cursor: stack[stack.length - 1] ?? null }));
    } }, "← Previous") : null,
    cursor ? h("a", { class: "btn", href: href(["logs"], query(p)) }, "First page") : null,
    h("span", { class: "muted", "data-testid": "page-info" }, `page ${stack.length + 1}, ${page.logs.length} log${page.logs.length === 1 ? "" : "s"}`),
    page.next_cursor ? h("button", { type: "button", class: "btn", "data-testid": "page-next", onclick: () => {
      history.set(key, [...stack, cursor ?? ""]);
      go(["logs"], query(p, { cursor: page.next_cursor }));
    } }, "Next →") : null,
  );
  mount(
    results,
    page.logs.length
      ? table(
        ["Log", "Site", "Device", "Meter", "Start", "End", "Energy", "Amount", "Status", "Batch", "Leaf hash"],
        page.logs.map((l) => [
          h("a", { href: href(["logs", String(l.log_id)]), "data-log-id": l.log_id }, `#${l.log_id}`),
          l.log.site_id,
          l.log.iot_device_id,
          l.log.meter_id,
          fmt.time(l.log.ts_start),
          fmt.time(l.log.ts_end),
          fmt.kwh(l.log.energy_kwh),
          fmt.sats(l.log.tx.amount_sats),
          l.log.status,
          l.batch_id ? h("a", { href: href(["batches", l.batch_id]) }, l.batch_id) : badge("unbatched", "muted"),
          shortHex(l.leaf_hash),
        ]),
        { class: "logs-table", "data-testid": "logs-table" },
      )
      : h("p", { class: "muted", "data-testid": "no-logs" }, "No logs match these filters."),
    pager,
  );
}

async function logDetail(root: HTMLElement, ctx: Ctx, id: string): Promise<void> {
  mount(root, h("p", { class: "muted" }, "loading…"));
  let entry: LogEntry;
  try {
    [entry] = await Promise.all([get<LogEntry>(`/api/v1/logs/${encodeURIComponent(id)}`), loadWasm()]);
  } catch (e) {
    if (ctx.alive()) mount(root, h("h1", null, `Log ${id}`), apiError(e));
    return;
  }
  if (!ctx.alive()) return;
  const text = JSON.stringify(entry.log);
  let canonical: string | null = null;
  let browserHash: string | null = null;
  let localError: unknown = null;
  let warnings: Array<{ code: string; member: string; message: string }> = [];
  try {
    canonical = canonicalText(text);
    const n = normalize(text);
    warnings = n.warnings;
    browserHash = leafHash(text);
  } catch (e) {
    localError = e;
  }
  const same = browserHash === entry.leaf_hash;
  const receiptBox = h("div", { class: "receipt-box" });
  const receiptSection = h("section", { class: "card" }, h("h2", null, "Receipt"),
    entry.batch_id
      ? h("div", { class: "actions" },
        h("button", { type: "button", class: "btn", "data-testid": "download-receipt", onclick: async () => {
          try {
            download(`receipt-log-${entry.log_id}.json`, await receiptText(entry.log_id));
          } catch (e) {
            mount(receiptBox, apiError(e));
          }
        } }, "Download receipt"),
        h("button", { type: "button", class: "btn btn-primary", "data-testid": "verify-here", onclick: async () => {
          try {
            const r = await receiptText(entry.log_id);
            const key = pinnedKey();
            const v = verifyReceipt(r, key ? { gatewayKey: key } : {});
            mount(receiptBox, h("p", null, "Checked in this browser: ", verdict(v), key ? " (against the pinned gateway key)" : " (no gateway key pinned: signature checked with the key in the receipt)"), stepsList(v));
          } catch (e) {
            mount(receiptBox, apiError(e));
          }
        } }, "Verify in the browser"),
        h("button", { type: "button", class: "btn", onclick: async () => {
          try {
            sessionStorage.setItem(VERIFY_HANDOFF, await receiptText(entry.log_id));
            go(["verify"]);
          } catch (e) {
            mount(receiptBox, apiError(e));
          }
        } }, "Open on the Verify page"))
      : h("p", { class: "muted" }, "Not batched yet: its receipt exists once the log is flushed into a batch (Batches page)."),
    receiptBox);
  mount(
    root,
    h("div", { class: "page-head" }, h("h1", null, `Log #${entry.log_id}`), h("a", { href: "#/logs", class: "btn" }, "← All logs")),
    h("div", { class: "grid" },
      h("section", { class: "card span-2" }, h("h2", null, "Log"), facts([
        ["Site / device / meter", `${entry.log.site_id} / ${entry.log.iot_device_id} / ${entry.log.meter_id}`],
        ["Window", `${fmt.time(entry.log.ts_start)} → ${fmt.time(entry.log.ts_end)} (${entry.log.interval_s} s)`],
        ["Energy", `${fmt.kwh(entry.log.energy_kwh)} (avg ${fmt.num(entry.log.power_kw_avg, 3)} kW)`],
        ["Amount", `${fmt.sats(entry.log.tx.amount_sats)} at ${entry.log.tx.price_sats_per_kwh} sats/kWh, ${entry.log.tx.channel}, ${entry.log.tx.settlement_status}`],
        ["Received", fmt.time(entry.received_at)],
        ["Batch", entry.batch_id ? h("span", null, h("a", { href: href(["batches", entry.batch_id]) }, entry.batch_id), ` leaf ${entry.leaf_index}`) : badge("unbatched", "muted")],
        ["Device signature", entry.log_signature ? hex(entry.log_signature) : "none"],
      ])),
      h("section", { class: "card span-2" }, h("h2", null, "Leaf hash"), facts([
        ["Gateway says", hex(entry.leaf_hash, { "data-testid": "server-leaf-hash" })],
        ["This browser computes", hex(browserHash, { "data-testid": "browser-leaf-hash" })],
        ["", localError ? errorBox(localError) : same ? h("span", { "data-testid": "hash-match" }, badge("match", "ok")) : badge("MISMATCH", "bad", { "data-testid": "hash-mismatch" })],
      ]), warnings.length ? h("ul", { class: "warnings" }, warnings.map((w) => h("li", null, badge(w.code, "warn"), " ", w.message))) : null),
      h("section", { class: "card span-all" }, h("h2", null, "Canonical JSON (RFC 8785, computed in the browser)"),
        h("pre", { class: "code", "data-testid": "canonical-json" }, canonical ?? "—"),
        h("p", { class: "muted small" }, `${canonical ? new TextEncoder().encode(canonical).length : 0} bytes; leaf hash = SHA-256(0x00 ‖ these bytes)`)),
      receiptSection,
    ),
  );
}
