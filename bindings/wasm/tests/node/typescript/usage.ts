// Compiled (not run) by package.test.mjs: the declarations must type a
// user's code strictly, and refuse misuse.
import {
  buildBatch, hashLogs, leafHash, merkleRoot, normalize, verifyReceipt,
  type AnchorFailedStep, type KwhError, type Log, type LogInput, type Receipt, type Verification,
} from "kwh-btc-iot";

const input: LogInput = {
  schema_version: "emlog-1.1", site_id: "S", iot_device_id: "D", meter_id: "M",
  ts_start: "2025-12-01T10:10:00Z", ts_end: "2025-12-01T10:15:00Z", energy_kwh: 1.5,
  status: "ok", tx: { price_sats_per_kwh: 100, channel: "ln" },
};
const log: Log = normalize(input).log;
const amount: number = log.tx.amount_sats;
const leaf: string = leafHash(JSON.stringify(input));
const root: string = merkleRoot(hashLogs([input, log]));
const built = buildBatch([input], { gatewayId: "g", batchId: "b", seq: 1, createdAt: new Date() });
const receipt: Receipt = built.receipts[0];
const index: number = receipt.leaf_index;
const v: Verification = verifyReceipt(receipt, { gatewayKey: null });
const ok: boolean = v.valid && v.signature === "absent";
const anchored: Verification = verifyReceipt(receipt, { network: "regtest", headers: { "150": "00".repeat(80), 151: "00".repeat(80) } });
for (const a of anchored.anchors) {
  const height: number | undefined = a.height;
  const blockHash: string | undefined = a.block_hash;
  if (a.status === "invalid") a.failed_step satisfies AnchorFailedStep | undefined;
  void [height, blockHash];
}
for (const e of v.errors) e.code satisfies KwhError["code"];
try {
  leafHash("{}");
} catch (err) {
  const e = err as KwhError;
  const where: string | null = e.member;
  void where;
}

// @ts-expect-error: status is a closed set
const badStatus: Log["status"] = "fine";
// @ts-expect-error: options are typed
buildBatch([input], { gatewayID: "g", batchId: "b", seq: 1 });
// @ts-expect-error: headers are hex
verifyReceipt(receipt, { headers: { "150": new Uint8Array(80) } });
// @ts-expect-error: the network is a closed set
verifyReceipt(receipt, { network: "moon" });
// @ts-expect-error: a verification is not a boolean
const notBool: boolean = verifyReceipt(receipt, {});

void [amount, leaf, root, index, ok, badStatus, notBool];
