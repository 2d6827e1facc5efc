#!/usr/bin/env node
// Reads the OpenTimestamps proofs inside receipts (NDJSON, one per line) with
// javascript-opentimestamps (npm): each must deserialize, serialize back to
// the same bytes, have the receipt's anchored head hash as its digest (the
// batch head's hash, or the last of `heads`), and reach a Bitcoin
// attestation whose height is in the anchor's `headers`.
//   node check_receipts.js RECEIPTS.ndjson
// Run by scripts/test-anchoring-e2e.sh on the receipts of a real gateway.
'use strict'
const fs = require('fs')
const crypto = require('crypto')
const OTS = require('opentimestamps')

// JCS of a batch head: its members are strings, integers and null, so sorted
// compact JSON is its RFC 8785 form.
function jcs (v) {
  if (v === null || typeof v !== 'object') return JSON.stringify(v)
  return '{' + Object.keys(v).sort().map((k) => JSON.stringify(k) + ':' + jcs(v[k])).join(',') + '}'
}
const headHash = (h) => crypto.createHash('sha256').update(Buffer.concat([Buffer.from([2]), Buffer.from(jcs(h), 'utf8')])).digest('hex')

function bitcoinHeights (ts) {
  const out = []
  const walk = (t) => {
    for (const a of t.attestations) if (a instanceof OTS.Notary.BitcoinBlockHeaderAttestation) out.push(a.height)
    t.ops.forEach((s) => walk(s))
  }
  walk(ts)
  return out
}

const lines = fs.readFileSync(process.argv[2], 'utf8').split('\n').filter((l) => l.trim())
let n = 0
lines.forEach((line, i) => {
  const r = JSON.parse(line)
  for (const a of r.anchors.filter((a) => a.type === 'opentimestamps')) {
    const bytes = Buffer.from(a.ots, 'hex')
    const f = OTS.DetachedTimestampFile.deserialize(Array.from(bytes))
    if (Buffer.compare(Buffer.from(f.serializeToBytes()), bytes) !== 0) throw new Error(`line ${i + 1}: not read back byte for byte`)
    const heads = a.heads || []
    const want = headHash(heads.length ? heads[heads.length - 1] : r.batch_head)
    if (Buffer.from(f.fileDigest()).toString('hex') !== want) throw new Error(`line ${i + 1}: digest is not the anchored head hash`)
    const heights = bitcoinHeights(f.timestamp)
    if (!heights.some((h) => a.headers && a.headers[String(h)])) throw new Error(`line ${i + 1}: no Bitcoin attestation with a carried header`)
    n++
  }
})
if (n === 0) throw new Error('no OpenTimestamps anchors')
console.log(`check_receipts.js: ${n} .ots proofs of ${lines.length} receipts read by javascript-opentimestamps, byte for byte, digests and heights as carried`)
