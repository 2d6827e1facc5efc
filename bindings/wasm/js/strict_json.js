// JS side of the input conversion of kwh-btc-iot (imported by the WASM glue).
//
// - JSON.stringify silently turns NaN and +-Infinity into null; the strict
//   serializer below refuses them instead, so that the core's strict parser
//   never sees data the caller did not pass. It runs as JS (not as a
//   callback into WebAssembly) because it is called for every value.
// - Type checks on caller values (instanceof, Array.isArray, Date methods)
//   can throw for proxies; kindOf never throws, so no JS exception ever has
//   to cross the WebAssembly module.
//
// Kept to plain `export function` declarations: build.sh turns this file
// into CommonJS for the Node build by rewriting exactly those.

const NON_FINITE = new Error("kwh-btc-iot: non-finite number");

function refuseNonFinite(_key, value) {
  if (typeof value === "number" && !Number.isFinite(value)) throw NON_FINITE;
  return value;
}

const TypedArrayPrototype = Object.getPrototypeOf(Uint8Array.prototype);
const intrinsic = (name) => Object.getOwnPropertyDescriptor(TypedArrayPrototype, name).get;
const typedArrayTag = intrinsic(Symbol.toStringTag);
const typedArrayBuffer = intrinsic("buffer");
const typedArrayOffset = intrinsic("byteOffset");
const typedArrayLength = intrinsic("byteLength");

/**
 * The kind of a value, never throwing: 0 undefined, 1 null, 2 string,
 * 3 number, 4 bigint, 5 boolean, 6 Uint8Array (a real one, Buffer too),
 * 7 array, 8 Date (a real one), 9 other object, 10 other (symbol, function).
 */
export function kindOf(v) {
  switch (typeof v) {
    case "undefined": return 0;
    case "string": return 2;
    case "number": return 3;
    case "bigint": return 4;
    case "boolean": return 5;
    case "object": break;
    default: return 10;
  }
  if (v === null) return 1;
  try {
    if (typedArrayTag.call(v) === "Uint8Array") return 6;
    if (Array.isArray(v)) return 7;
    if (Object.prototype.toString.call(v) === "[object Date]") {
      Date.prototype.getTime.call(v); // throws unless v is a real Date
      return 8;
    }
  } catch (_) {
    // a proxy trap or a fake Date: an object like any other
  }
  return 9;
}

const encoder = new TextEncoder();
const hasLoneSurrogate = typeof String.prototype.isWellFormed === "function"
  ? (s) => !s.isWellFormed()
  : (s) => /\p{Cs}/u.test(s);

/**
 * Writes the UTF-8 of string `s` into `view` (a view of WebAssembly memory
 * with room for 3 bytes per UTF-16 unit) and returns the number of bytes,
 * or -1 when `s` has a lone surrogate (which UTF-8 cannot represent and
 * the encoder would silently replace with U+FFFD). encodeInto is native
 * and fast; wasm-bindgen's own string passing loops over ASCII in JS.
 */
export function encodeUtf8Into(s, view) {
  if (hasLoneSurrogate(s)) return -1;
  return encoder.encodeInto(s, view).written;
}

/**
 * A plain Uint8Array over the same bytes as a real Uint8Array (kind 6),
 * read with the intrinsic getters so that an overridden `length` cannot
 * throw or lie; null if that fails (a detached buffer).
 */
export function plainBytes(v) {
  try {
    return new Uint8Array(typedArrayBuffer.call(v), typedArrayOffset.call(v), typedArrayLength.call(v));
  } catch (_) {
    return null;
  }
}

/** The ISO string of a real Date, or "" for an invalid one. */
export function dateIso(d) {
  const t = Date.prototype.getTime.call(d);
  return Number.isNaN(t) ? "" : new Date(t).toISOString();
}

/**
 * JSON.stringify(value) with NaN/Infinity refused: returns the JSON text,
 * `null` when a NaN or an Infinity was met (the caller locates it), or
 * `undefined` when the value is not serializable at all (a function, a
 * symbol, undefined). Other exceptions (BigInt, cycles, a throwing toJSON)
 * propagate to the caller, which catches them.
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
 * objects serialized as by stringifyStrict. Returns null whenever an item
 * needs the careful one-by-one path (bytes, a NaN, a value that is not an
 * object, an exception): the caller then converts that range item by item
 * and reports the exact error. Never throws.
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
  } catch (_) {
    return null;
  }
  return out;
}
