// Hand-written types of the formats (SPEC sections 1, 4, 5) and results.
// wasm-bindgen copies this text into the generated .d.ts; the functions'
// signatures refer to these names.

/** The stable error codes shared by the core, every binding and the gateway. */
export type ErrorCode =
  | "invalid_utf8" | "invalid_json" | "duplicate_member" | "lone_surrogate"
  | "number_out_of_range" | "too_deep" | "too_large" | "unknown_member"
  | "missing_member" | "invalid_type" | "invalid_value" | "unsupported_version"
  | "invalid_length" | "forbidden_character" | "out_of_range" | "not_an_integer"
  | "invalid_timestamp" | "invalid_time_range" | "interval_mismatch"
  | "amount_mismatch" | "duplicate_tag" | "too_many_tags" | "invalid_hex"
  | "leaf_hash_mismatch" | "invalid_proof" | "index_out_of_range"
  | "invalid_key" | "invalid_signature" | "untrusted_key" | "missing_signature"
  | "empty_batch" | "invalid_anchor";

/** The family of an error code. */
export type ErrorFamily = "json" | "validation" | "merkle" | "crypto";

/**
 * What every function of this package throws: a plain `Error` with the
 * shared code, the member it concerns (a path such as `tx.amount_sats`,
 * `tags[2]` or `[3].ts_end` for the fourth log of an array) and the family.
 */
export interface KwhError extends Error {
  code: ErrorCode;
  member: string | null;
  family: ErrorFamily;
  /** Position of the failing item when the argument was an array of logs. */
  index?: number;
}

export type Status = "ok" | "estimated" | "partial" | "error";
export type Channel = "ln" | "onchain" | "none";
export type SettlementStatus = "pending" | "invoiced" | "paid" | "expired" | "failed";

/** The economic part of a log, as accepted on input (defaults apply to absent members). */
export interface TxInput {
  unit?: "sats";
  price_sats_per_kwh: number;
  /** Derived as floor(energy_kwh * price_sats_per_kwh + 0.5) when absent. */
  amount_sats?: number;
  channel: Channel;
  settlement_status?: SettlementStatus;
  ln_invoice_id?: string | null;
  bitcoin_txid?: string | null;
}

/** An `emlog-1.1` energy log as a meter or gateway sends it. */
export interface LogInput {
  schema_version: "emlog-1.1";
  site_id: string;
  iot_device_id: string;
  meter_id: string;
  /** RFC 3339 date-time with offset. */
  ts_start: string;
  ts_end: string;
  /** Derived from the timestamps when absent. */
  interval_s?: number;
  energy_kwh: number;
  /** Derived as energy_kwh * 3600 / interval_s when absent. */
  power_kw_avg?: number;
  status: Status;
  tags?: string[];
  tx: TxInput;
}

/** The `tx` part of a normalized log: every member present. */
export interface Tx {
  unit: "sats";
  price_sats_per_kwh: number;
  amount_sats: number;
  channel: Channel;
  settlement_status: SettlementStatus;
  ln_invoice_id: string | null;
  bitcoin_txid: string | null;
}

/** A normalized `emlog-1.1` log: every member present, timestamps in UTC `Z`. */
export interface Log {
  schema_version: "emlog-1.1";
  site_id: string;
  iot_device_id: string;
  meter_id: string;
  ts_start: string;
  ts_end: string;
  interval_s: number;
  energy_kwh: number;
  power_kw_avg: number;
  status: Status;
  tags: string[];
  tx: Tx;
}

/** A plausibility finding that does not reject the log (e.g. `power_mismatch`). */
export interface Warning {
  code: string;
  member: string;
  message: string;
}

/** The result of `normalize`. */
export interface Normalized {
  log: Log;
  warnings: Warning[];
}

/** An `embatch-1` batch head. */
export interface BatchHead {
  head_version: "embatch-1";
  gateway_id: string;
  batch_id: string;
  seq: number;
  log_count: number;
  /** RFC 9162 root over the logs' leaf hashes, 64 lowercase hex. */
  merkle_root: string;
  /** The previous head's hash; null exactly when seq is 1. */
  prev_head_hash: string | null;
  /** RFC 3339 UTC. */
  created_at: string;
}

/** An Ed25519 signature with its public key, lowercase hex. */
export interface SignatureObject {
  alg: "ed25519";
  public_key: string;
  signature: string;
}

/** An anchor of a batch head (e.g. in Bitcoin); `type` says which kind. */
export interface Anchor {
  type: string;
  [member: string]: unknown;
}

/** An `emreceipt-1` receipt: proves one log offline. */
export interface Receipt {
  receipt_version: "emreceipt-1";
  log: Log;
  leaf_hash: string;
  leaf_index: number;
  /** RFC 9162 audit path, leaf to root, 64-hex each. */
  inclusion_path: string[];
  batch_head: BatchHead;
  /** The gateway's signature over JCS(batch_head), or null. */
  head_signature: SignatureObject | null;
  /** A device's signature over the log's canonical bytes, when it signs. */
  log_signature?: SignatureObject | null;
  anchors: Anchor[];
}

/** The state of a signature check. */
export type SignatureStatus = "valid" | "absent" | "invalid" | "untrusted_key" | "not_checked";

/** One step of a receipt verification. */
export interface VerificationStep {
  name: "parse" | "leaf_hash" | "inclusion" | "head" | "signature" | "log_signature" | "anchors";
  status: "passed" | "failed" | "skipped";
  detail: string;
}

/** Why a receipt is not valid. */
export interface VerificationError {
  code: ErrorCode;
  message: string;
  member?: string;
}

/** The verification step at which an anchor failed. */
export type AnchorFailedStep =
  | "format" | "network" | "head_chain" | "ots_parse" | "ots_digest" | "ots_replay"
  | "header" | "header_pow" | "merkle_root" | "raw_tx" | "tx_commitment"
  | "merkle_proof" | "tx_inclusion";

/** The state of one anchor (an OpenTimestamps proof, a Bitcoin transaction, ...). */
export interface AnchorResult {
  type: string;
  /**
   * verified: the proof reaches a Bitcoin block header with valid proof of
   * work; pending: only calendar attestations so far; needs_header: the proof
   * reaches a block whose header was not supplied; invalid: see failed_step;
   * unknown: a type this verifier does not check; not_checked: the batch head
   * is malformed.
   */
  status: "verified" | "pending" | "needs_header" | "invalid" | "unknown" | "not_checked";
  detail: string;
  /** When invalid: the step that failed (format, network, head_chain, ots_parse, ...). */
  failed_step?: AnchorFailedStep;
  /** The network whose proof-of-work rules were applied. */
  network?: BitcoinNetwork;
  /** The head hash the anchor commits to. */
  anchored_head_hash?: string;
  /** Block height (verified: the attested block; needs_header: the block whose header is missing). */
  height?: number;
  /** Block hash (display order), to check against your own node. */
  block_hash?: string;
  /** Block time from the header, Unix seconds. */
  block_time?: number;
  /** The Bitcoin transaction carrying the commitment (display order), when known. */
  txid?: string;
  /** Calendars holding pending attestations. */
  calendars?: string[];
  /** What the verifier did not check (e.g. that the block is in the best chain). */
  not_checked?: string;
}

/** The structured result of `verifyReceipt` (SPEC section 5). */
export interface Verification {
  /** True when every check passed. */
  valid: boolean;
  /** The leaf hash recomputed from the log (null when the log is invalid). */
  leaf_hash: string | null;
  /** The root the inclusion path leads to (null when it could not be folded). */
  merkle_root: string | null;
  /** The batch head's hash (null when the head is malformed). */
  head_hash: string | null;
  signature: SignatureStatus;
  /** The head signer's public key, hex, when a signature was present. */
  signer: string | null;
  log_signature: SignatureStatus;
  anchors: AnchorResult[];
  steps: VerificationStep[];
  /** Empty exactly when valid. */
  errors: VerificationError[];
  warnings: Warning[];
}

/** Options of `buildBatch`. */
export interface BuildBatchOptions {
  gatewayId: string;
  batchId: string;
  /** 1 for a gateway's first batch, then 2, 3, ... */
  seq: number;
  /** The previous head's hash: required exactly when seq > 1. */
  prevHeadHash?: string | null;
  /** RFC 3339 string or Date; defaults to now. */
  createdAt?: string | Date;
  /** The Ed25519 secret seed (64 hex characters or 32 bytes); omit for an unsigned batch. */
  signingKey?: string | Uint8Array | null;
}

/** A warning about the log at `index` of a batch. */
export interface BatchWarning extends Warning {
  index: number;
}

/** The result of `buildBatch`. */
export interface BuiltBatch {
  head: BatchHead;
  /** SHA-256(0x02 || JCS(head)), 64 lowercase hex. */
  headHash: string;
  signature: SignatureObject | null;
  /** One receipt per log, in input order. */
  receipts: Receipt[];
  warnings: BatchWarning[];
}

/** Options of `verifyReceipt`. */
export interface VerifyOptions {
  /** The gateway public key you trust (64 hex characters or 32 bytes): the head must be signed by it. */
  gatewayKey?: string | Uint8Array | null;
  /** Whose proof-of-work rules anchors are checked with (default "mainnet"). An anchor's own `network` must match. */
  network?: BitcoinNetwork | null;
  /**
   * Block headers you trust (from your node or header chain), by height:
   * `{ "912345": "<80-byte header, 160 hex>" }`. They take precedence over
   * headers carried in the receipt's anchors.
   */
  headers?: Record<string, string> | null;
}

/** A Bitcoin network: selects the proof-of-work limit applied to anchor headers. */
export type BitcoinNetwork = "mainnet" | "testnet" | "signet" | "regtest";
