// The gateway's HTTP API (same origin). The API key lives in sessionStorage
// only and is sent as `Authorization: Bearer KEY`, as gateway/src/auth.rs reads it.

import type { Log } from "kwh-btc-iot/web";

const KEY_STORAGE = "kwh-btc-iot.api-key";

export function getKey(): string | null {
  try {
    return sessionStorage.getItem(KEY_STORAGE);
  } catch {
    return null;
  }
}

export function setKey(key: string): void {
  sessionStorage.setItem(KEY_STORAGE, key);
}

export function clearKey(): void {
  sessionStorage.removeItem(KEY_STORAGE);
}

/** An error answer of the gateway (`{"error": {"code", "message", "member"}}`) or a network failure. */
export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
    public member: string | null = null,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export interface ApiResponse<T> {
  status: number;
  data: T;
  text: string;
}

export interface RequestOptions {
  method?: string;
  body?: string;
  contentType?: string;
  headers?: Record<string, string>;
}

/** Calls the gateway; throws `ApiError` on anything but 2xx. */
export async function request<T>(path: string, opts: RequestOptions = {}): Promise<ApiResponse<T>> {
  const headers: Record<string, string> = { Accept: "application/json", ...opts.headers };
  const key = getKey();
  if (key) headers["Authorization"] = `Bearer ${key}`;
  if (opts.body !== undefined) headers["Content-Type"] = opts.contentType ?? "application/json";
  let resp: Response;
  try {
    resp = await fetch(path, { method: opts.method ?? "GET", headers, body: opts.body, cache: "no-store" });
  } catch (e) {
    throw new ApiError(0, "network_error", `the gateway did not answer: ${(e as Error).message}`);
  }
  const text = await resp.text();
  if (!resp.ok) {
    let code = `http_${resp.status}`;
    let message = text || resp.statusText;
    let member: string | null = null;
    try {
      const body = JSON.parse(text) as { error?: { code?: string; message?: string; member?: string | null } };
      if (body.error) {
        code = body.error.code ?? code;
        message = body.error.message ?? message;
        member = body.error.member ?? null;
      }
    } catch {
      /* not JSON: keep the text */
    }
    throw new ApiError(resp.status, code, message, member);
  }
  const type = resp.headers.get("content-type") ?? "";
  const data = (type.includes("json") && text ? JSON.parse(text) : text) as T;
  return { status: resp.status, data, text };
}

export async function get<T>(path: string): Promise<T> {
  return (await request<T>(path)).data;
}

/** Builds `path?a=b&...` from the non-empty values. */
export function withQuery(path: string, q: Record<string, string | number | boolean | null | undefined>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== null && v !== undefined && v !== "") p.set(k, String(v));
  const s = p.toString();
  return s ? `${path}?${s}` : path;
}

// ---- shapes of gateway/src/api.rs --------------------------------------------

export interface WarningBody {
  code: string;
  member: string;
  message: string;
}

export interface LogAccepted {
  log_id: number;
  leaf_hash: string;
  warnings: WarningBody[];
}

export interface LogEntry {
  log_id: number;
  leaf_hash: string;
  log: Log;
  received_at: string;
  batch_id: string | null;
  leaf_index: number | null;
  log_signature: string | null;
}

export interface LogPage {
  logs: LogEntry[];
  next_cursor: string | null;
}

export interface FlushResult {
  batch_id: string;
  log_count: number;
  merkle_root: string;
  anchor_status: string;
  head_hash: string;
  seq: number;
  signature: string | null;
  public_key: string | null;
  created_at: string;
  prev_head_hash: string | null;
}

export interface BatchSummary {
  batch_id: string;
  seq: number;
  log_count: number;
  merkle_root: string;
  head_hash: string;
  created_at: string;
  anchor_status: string;
}

export interface BatchPage {
  batches: BatchSummary[];
  next_cursor: string | null;
}

export interface BatchHeadBody {
  head_version: string;
  gateway_id: string;
  batch_id: string;
  seq: number;
  log_count: number;
  merkle_root: string;
  prev_head_hash: string | null;
  created_at: string;
}

export interface BatchDetail {
  batch_id: string;
  seq: number;
  head: BatchHeadBody;
  head_hash: string;
  head_signature: { alg: string; public_key: string; signature: string } | null;
  anchor_status: string;
  anchors: Array<Record<string, unknown>>;
}

export interface GatewayInfo {
  gateway_id: string;
  public_key: string;
  signature_alg: string;
  schema_versions: { log: string; batch_head: string; receipt: string };
  storage: string;
  version: string;
  auth_required: boolean;
  /** The Bitcoin network whose rules the gateway's anchors follow. */
  anchor_network?: string;
  /** The OpenTimestamps calendars it submits heads to (empty: none). */
  ots_calendars?: string[];
  /** Whether it anchors heads with its own Bitcoin Core wallet. */
  bitcoind_node_mode?: boolean;
}

let gatewayInfo: Promise<GatewayInfo> | null = null;

/** `GET /api/v1/gateway`, once per page load (it needs no key). */
export function gateway(): Promise<GatewayInfo> {
  gatewayInfo ??= get<GatewayInfo>("/api/v1/gateway").catch((e) => {
    gatewayInfo = null;
    throw e;
  });
  return gatewayInfo;
}

/** Every log of a batch, page by page (`GET /api/v1/logs?batch_id=`). */
export async function* batchLogs(batchId: string): AsyncGenerator<LogEntry> {
  let cursor: string | null = null;
  do {
    const page: LogPage = await get<LogPage>(withQuery("/api/v1/logs", { batch_id: batchId, limit: 1000, cursor }));
    yield* page.logs;
    cursor = page.next_cursor;
  } while (cursor);
}

/** The receipt text of a log, exactly as the gateway sent it. */
export async function receiptText(logId: number): Promise<string> {
  return (await request<unknown>(`/api/v1/logs/${logId}/receipt`)).text;
}

/**
 * The receipts of every log of a batch as JSON Lines, in leaf order, fetched
 * a few at a time. (The gateway has no one-request endpoint for this yet.)
 */
export async function batchReceipts(batchId: string, onProgress?: (done: number, total: number) => void): Promise<string[]> {
  const ids: Array<{ id: number; index: number }> = [];
  for await (const l of batchLogs(batchId)) ids.push({ id: l.log_id, index: l.leaf_index ?? 0 });
  ids.sort((a, b) => a.index - b.index);
  const out: string[] = new Array(ids.length);
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < ids.length) {
      const i = next++;
      out[i] = (await receiptText(ids[i]!.id)).trim();
      onProgress?.(++done, ids.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(6, ids.length) }, worker));
  return out;
}
