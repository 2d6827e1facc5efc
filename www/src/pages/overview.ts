// Overview: totals per site (kWh, sats), energy over time per site or device,
// ingest rate, latest batches with their anchor status.
//
// The gateway has no aggregate endpoint: the page reads the logs of the chosen
// window (GET /api/v1/logs, 1000 per page) up to SCAN_LIMIT and sums them here.

import { type BatchPage, gateway, get, type LogEntry, type LogPage, request, withQuery } from "../api";
import { bars, lineChart, type Series } from "../chart";
import { facts, h, hex, mount, shortHex, table } from "../dom";
import * as fmt from "../format";
import { type Ctx, go, href } from "../router";
import { anchorBadge, apiError } from "../ui";

const SCAN_LIMIT = 20_000;
const WINDOWS: Record<string, number | null> = { all: null, "30d": 30 * 86_400_000, "7d": 7 * 86_400_000, "24h": 86_400_000 };
const BUCKETS = [5 * 60_000, 15 * 60_000, 3_600_000, 6 * 3_600_000, 86_400_000, 7 * 86_400_000, 30 * 86_400_000];
const MAX_SERIES = 8;

interface SiteTotal {
  site: string;
  devices: Set<string>;
  logs: number;
  kwh: number;
  sats: number;
  last: string;
}

/** The last /metrics sample, to turn the ingested counter into a rate. */
let lastSample: { at: number; ingested: number } | null = null;

function metricValue(text: string, name: string): number | null {
  const re = new RegExp(`^${name}(?:\\{[^}]*\\})?\\s+([0-9.eE+-]+)\\s*$`, "gm");
  let sum: number | null = null;
  for (const m of text.matchAll(re)) sum = (sum ?? 0) + Number(m[1]);
  return sum;
}

async function scan(fromIso: string | null, alive: () => boolean): Promise<{ logs: LogEntry[]; truncated: boolean }> {
  const logs: LogEntry[] = [];
  let cursor: string | null = null;
  do {
    const page: LogPage = await get<LogPage>(withQuery("/api/v1/logs", { limit: 1000, cursor, from: fromIso }));
    if (!alive()) break;
    logs.push(...page.logs);
    cursor = page.next_cursor;
  } while (cursor && logs.length < SCAN_LIMIT);
  return { logs, truncated: Boolean(cursor) };
}

function chartSeries(logs: LogEntry[], by: "site" | "device"): { series: Series[]; bucketMs: number } {
  if (!logs.length) return { series: [], bucketMs: 3_600_000 };
  const starts = logs.map((l) => Date.parse(l.log.ts_start));
  const span = Math.max(...starts) - Math.min(...starts);
  const bucketMs = BUCKETS.find((b) => span / b <= 60) ?? BUCKETS[BUCKETS.length - 1]!;
  const perKey = new Map<string, Map<number, number>>();
  const totals = new Map<string, number>();
  logs.forEach((l, i) => {
    const key = by === "site" ? l.log.site_id : `${l.log.site_id} / ${l.log.iot_device_id}`;
    const b = Math.floor(starts[i]! / bucketMs) * bucketMs;
    const m = perKey.get(key) ?? new Map<number, number>();
    m.set(b, (m.get(b) ?? 0) + l.log.energy_kwh);
    perKey.set(key, m);
    totals.set(key, (totals.get(key) ?? 0) + l.log.energy_kwh);
  });
  const ranked = [...totals.entries()].sort((a, b) => b[1] - a[1]).map(([k]) => k);
  const shown = ranked.slice(0, MAX_SERIES);
  const series: Series[] = shown.map((k) => ({ name: k, points: [...perKey.get(k)!.entries()].sort((a, b) => a[0] - b[0]) }));
  if (ranked.length > MAX_SERIES) {
    const other = new Map<number, number>();
    for (const k of ranked.slice(MAX_SERIES)) for (const [b, v] of perKey.get(k)!) other.set(b, (other.get(b) ?? 0) + v);
    series.push({ name: `${ranked.length - MAX_SERIES} more`, points: [...other.entries()].sort((a, b) => a[0] - b[0]) });
  }
  return { series, bucketMs };
}

function bucketName(ms: number): string {
  return ms >= 86_400_000 ? `${ms / 86_400_000} d` : ms >= 3_600_000 ? `${ms / 3_600_000} h` : `${ms / 60_000} min`;
}

function ingestRate(logs: LogEntry[], rateBox: HTMLElement): void {
  const now = Date.now();
  const perMinute = new Array<number>(60).fill(0);
  let lastMin = 0;
  let last15 = 0;
  for (const l of logs) {
    const age = now - Date.parse(l.received_at);
    if (age < 0 || age >= 3_600_000) continue;
    perMinute[59 - Math.floor(age / 60_000)]! += 1;
    if (age < 60_000) lastMin++;
    if (age < 15 * 60_000) last15++;
  }
  const lastHour = perMinute.reduce((a, b) => a + b, 0);
  mount(
    rateBox,
    h("div", { class: "rate-grid" },
      h("div", { class: "stat" }, h("div", { class: "stat-value", "data-testid": "rate-1m" }, fmt.int(lastMin)), h("div", { class: "stat-label" }, "logs in the last minute")),
      h("div", { class: "stat" }, h("div", { class: "stat-value" }, fmt.num(last15 / 15, 1)), h("div", { class: "stat-label" }, "logs/min over 15 min")),
      h("div", { class: "stat" }, h("div", { class: "stat-value" }, fmt.int(lastHour)), h("div", { class: "stat-label" }, "logs in the last hour")),
    ),
    h("figure", { class: "rate-bars" }, bars(perMinute, "logs received per minute, last 60 minutes"), h("figcaption", { class: "muted" }, "received per minute, last hour (by the gateway's received_at)")),
  );
}

async function metricsRate(box: HTMLElement, alive: () => boolean): Promise<void> {
  try {
    const text = (await request<string>("/metrics", { headers: { Accept: "text/plain" } })).text;
    if (!alive()) return;
    const ingested = metricValue(text, "kwh_btc_iot_logs_ingested_total") ?? 0;
    const batches = metricValue(text, "kwh_btc_iot_batches_total") ?? 0;
    const now = performance.now();
    let rate = "measuring…";
    if (lastSample && now - lastSample.at > 1000) rate = `${fmt.num(((ingested - lastSample.ingested) * 1000) / (now - lastSample.at), 1)} logs/s`;
    lastSample = { at: now, ingested };
    mount(box, facts([
      ["Ingested since start", fmt.int(ingested)],
      ["Batches since start", fmt.int(batches)],
      ["Current ingest rate", h("span", { "data-testid": "metrics-rate" }, rate)],
    ]));
  } catch {
    mount(box, h("p", { class: "muted" }, "Live counters need the admin key (GET /metrics)."));
  }
}

export async function overviewPage(root: HTMLElement, ctx: Ctx): Promise<void> {
  const win = ctx.params.get("window") ?? "all";
  const by = ctx.params.get("by") === "device" ? "device" : "site";
  const winMs = WINDOWS[win] ?? null;
  const fromIso = winMs ? fmt.rfc3339(new Date(Date.now() - winMs)) : null;

  const controls = h(
    "form",
    { class: "controls", onchange: (ev: Event) => {
      const f = new FormData(ev.currentTarget as HTMLFormElement);
      go(["overview"], { window: String(f.get("window")), by: String(f.get("by")) });
    } },
    h("label", null, "Window ", h("select", { name: "window" }, Object.keys(WINDOWS).map((w) => h("option", { value: w, selected: w === win }, w === "all" ? "all time" : `last ${w}`)))),
    h("label", null, "Chart by ", h("select", { name: "by" }, h("option", { value: "site", selected: by === "site" }, "site"), h("option", { value: "device", selected: by === "device" }, "device"))),
  );
  const gwBox = h("section", { class: "card" }, h("h2", null, "Gateway"), h("p", { class: "muted" }, "loading…"));
  const totalsBox = h("section", { class: "card span-2" }, h("h2", null, "Totals"), h("p", { class: "muted" }, "loading…"));
  const chartBox = h("section", { class: "card span-all" }, h("h2", null, "Energy over time"), h("p", { class: "muted" }, "loading…"));
  const rateBox = h("div", null, h("p", { class: "muted" }, "loading…"));
  const metricsBox = h("div", { class: "metrics" });
  const batchesBox = h("section", { class: "card span-2" }, h("h2", null, "Latest batches"), h("p", { class: "muted" }, "loading…"));
  mount(
    root,
    h("div", { class: "page-head" }, h("h1", null, "Overview"), controls),
    h("div", { class: "grid" }, totalsBox, gwBox, chartBox, h("section", { class: "card" }, h("h2", null, "Ingest rate"), rateBox, metricsBox), batchesBox),
  );

  const gw = gateway().then(
    (g) => mount(gwBox, h("h2", null, "Gateway"), facts([
      ["Gateway id", h("code", null, g.gateway_id)],
      ["Public key (Ed25519)", hex(g.public_key, { "data-testid": "gateway-key" })],
      ["Storage", g.storage],
      ["Formats", `${g.schema_versions.log}, ${g.schema_versions.batch_head}, ${g.schema_versions.receipt}`],
      ["Version", g.version],
      ["API keys", g.auth_required ? "required" : "not configured (loopback only)"],
    ])),
    (e) => mount(gwBox, h("h2", null, "Gateway"), apiError(e)),
  );

  const batches = get<BatchPage>("/api/v1/batches?limit=8").then(
    (page) => {
      if (!ctx.alive()) return;
      mount(batchesBox, h("h2", null, "Latest batches"), page.batches.length
        ? table(["Seq", "Batch", "Logs", "Created", "Anchor", "Root"], page.batches.map((b) => [
          String(b.seq),
          h("a", { href: href(["batches", b.batch_id]) }, b.batch_id),
          fmt.int(b.log_count),
          fmt.time(b.created_at),
          anchorBadge(b.anchor_status),
          shortHex(b.merkle_root),
        ]), { "data-testid": "latest-batches" })
        : h("p", { class: "muted" }, "No batches yet: logs are batched on flush (Batches page) or automatically."),
        h("p", null, h("a", { href: "#/batches" }, "All batches →")));
    },
    (e) => ctx.alive() && mount(batchesBox, h("h2", null, "Latest batches"), apiError(e)),
  );

  const logs = scan(fromIso, ctx.alive).then(
    ({ logs, truncated }) => {
      if (!ctx.alive()) return;
      const sites = new Map<string, SiteTotal>();
      const devices = new Set<string>();
      let kwhSum = 0;
      let satsSum = 0;
      for (const l of logs) {
        const t = sites.get(l.log.site_id) ?? { site: l.log.site_id, devices: new Set(), logs: 0, kwh: 0, sats: 0, last: "" };
        t.devices.add(l.log.iot_device_id);
        devices.add(`${l.log.site_id}\u0000${l.log.iot_device_id}`);
        t.logs++;
        t.kwh += l.log.energy_kwh;
        t.sats += l.log.tx.amount_sats;
        if (l.log.ts_end > t.last) t.last = l.log.ts_end;
        sites.set(l.log.site_id, t);
        kwhSum += l.log.energy_kwh;
        satsSum += l.log.tx.amount_sats;
      }
      const rows = [...sites.values()].sort((a, b) => b.kwh - a.kwh);
      mount(
        totalsBox,
        h("h2", null, "Totals"),
        h("div", { class: "stats" },
          h("div", { class: "stat" }, h("div", { class: "stat-value", "data-testid": "total-kwh" }, fmt.kwh(kwhSum)), h("div", { class: "stat-label" }, "energy")),
          h("div", { class: "stat" }, h("div", { class: "stat-value", "data-testid": "total-sats" }, fmt.sats(satsSum)), h("div", { class: "stat-label" }, "amount")),
          h("div", { class: "stat" }, h("div", { class: "stat-value", "data-testid": "total-logs" }, fmt.int(logs.length)), h("div", { class: "stat-label" }, "logs")),
          h("div", { class: "stat" }, h("div", { class: "stat-value" }, `${sites.size} / ${devices.size}`), h("div", { class: "stat-label" }, "sites / devices")),
        ),
        rows.length
          ? table(["Site", "Devices", "Logs", "Energy", "Amount", "Last reading"], rows.map((r) => [
            h("a", { href: href(["logs"], { site_id: r.site }) }, r.site),
            fmt.int(r.devices.size),
            fmt.int(r.logs),
            fmt.kwh(r.kwh),
            fmt.sats(r.sats),
            fmt.time(r.last),
          ]), { "data-testid": "site-totals" })
          : h("p", { class: "muted" }, "No logs in this window yet. Post some on the Ingest page."),
        truncated ? h("p", { class: "note" }, `Totals cover the first ${fmt.int(logs.length)} logs of the window.`) : null,
      );
      const { series, bucketMs } = chartSeries(logs, by);
      mount(chartBox, h("h2", null, `Energy over time, per ${by}`), h("p", { class: "muted small" }, `kWh per ${bucketName(bucketMs)} (by ts_start)`), lineChart(series, bucketMs, "kWh"));
      ingestRate(logs, rateBox);
    },
    (e) => {
      if (!ctx.alive()) return;
      for (const [box, title] of [[totalsBox, "Totals"], [chartBox, "Energy over time"]] as const) mount(box, h("h2", null, title), apiError(e));
      mount(rateBox, apiError(e));
    },
  );

  const metrics = metricsRate(metricsBox, ctx.alive);
  const timer = setInterval(() => void metricsRate(metricsBox, ctx.alive), 15_000);
  ctx.onLeave(() => clearInterval(timer));
  await Promise.all([gw, batches, logs, metrics]);
}
