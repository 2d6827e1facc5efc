// Loads the WASM package (bindings/wasm/pkg/web) once. Its .wasm file is
// copied next to app.js by build.mjs and fetched from the gateway itself:
// nothing comes from elsewhere at run time.

import init, { canonicalize } from "kwh-btc-iot/web";

export { canonicalizeJson, leafHash, normalize, verifyReceipt } from "kwh-btc-iot/web";
export type { AnchorResult, KwhError, Log, LogInput, Normalized, Receipt, Verification, VerificationStep, Warning } from "kwh-btc-iot/web";

let ready: Promise<void> | null = null;

/** Fetches and instantiates the .wasm (once); every other export needs it. */
export function loadWasm(): Promise<void> {
  if (!ready) ready = init({ module_or_path: new URL("kwh_btc_iot_wasm_bg.wasm", document.baseURI) }).then(() => undefined);
  return ready;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Canonical JSON text of a log (RFC 8785 of the normalized log); throws a KwhError. */
export function canonicalText(log: string): string {
  return utf8.decode(canonicalize(log));
}
