// JS side of the input conversion of kwh-btc-iot (imported by the WASM glue).
//
// JSON.stringify silently turns NaN and +-Infinity into null; the strict
// serializer below refuses them instead, so that the core's strict parser
// never sees data the caller did not pass. It runs as JS (not as a callback
// into WebAssembly) because it is called for every value of every log.
//
// Kept to plain `export function` declarations: build.sh turns this file
// into CommonJS for the Node build by rewriting exactly those.

const NON_FINITE = new Error("kwh-btc-iot: non-finite number");

function refuseNonFinite(_key, value) {
  if (typeof value === "number" && !Number.isFinite(value)) throw NON_FINITE;
  return value;
}

/**
 * JSON.stringify(value) with NaN/Infinity refused: returns the JSON text,
 * `null` when a NaN or an Infinity was met (the caller locates it), or
 * `undefined` when the value is not serializable at all (a function, a
 * symbol, undefined). Other exceptions (BigInt, cycles, a throwing toJSON)
 * propagate.
 */
export function stringifyStrict(value) {
  try {
    return JSON.stringify(value, refuseNonFinite);
  } catch (e) {
    if (e === NON_FINITE) return null;
    throw e;
  }
}

/**
 * The JSON texts of items[start..end) joined by NUL characters (which no
 * JSON text can contain), for the bulk path: strings are taken as they are,
 * other values serialized as by stringifyStrict. Returns null whenever an
 * item needs the careful one-by-one path (bytes, a NaN, a value that is not
 * serializable, an exception): the caller then converts that range item by
 * item and reports the exact error.
 */
export function joinJsonTexts(items, start, end) {
  let out = "";
  try {
    for (let i = start; i < end; i++) {
      const item = items[i];
      let text;
      if (typeof item === "string") {
        text = item;
      } else if (item === null || typeof item !== "object" || ArrayBuffer.isView(item)) {
        return null;
      } else {
        text = JSON.stringify(item, refuseNonFinite);
        if (typeof text !== "string") return null;
      }
      out = i === start ? text : out + "\u0000" + text;
    }
  } catch (e) {
    return null;
  }
  return out;
}
