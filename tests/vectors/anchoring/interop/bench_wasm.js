#!/usr/bin/env node
// Time receipt verification with an OpenTimestamps anchor in the WASM package.
//
//   node bench_wasm.js <dir of the nodejs wasm-bindgen build> target/anchoring/receipt-ots-regtest.json
//
// Same receipt and cases as bench_python.py (the anchor is refused at
// header_pow by the mainnet rules after all of its work). Prints the best
// wall time of 5 runs and the process CPU time per call.
'use strict'
const fs = require('fs')
const path = require('path')
const kbi = require(path.resolve(process.argv[2], 'kwh_btc_iot_wasm.js'))
const text = fs.readFileSync(process.argv[3], 'utf8')
const r = JSON.parse(text)
const cases = [
  ['signed, OTS anchor + header', text],
  ['signed, no anchor', JSON.stringify({ ...r, anchors: [] })],
  ['unsigned, OTS anchor + header', JSON.stringify({ ...r, head_signature: null })],
  ['unsigned, no anchor', JSON.stringify({ ...r, head_signature: null, anchors: [] })]
]
const v = kbi.verifyReceipt(text)
const a = v.anchors[0]
if (a.type !== 'opentimestamps' || a.status !== 'invalid' || !a.detail.includes('proof-of-work limit')) throw new Error(JSON.stringify(a))
for (const [name, t] of cases) {
  const n = 5000
  let wall = Infinity
  let cpu = Infinity
  for (let k = 0; k < 5; k++) {
    const c0 = process.cpuUsage()
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < n; i++) kbi.verifyReceipt(t)
    wall = Math.min(wall, Number(process.hrtime.bigint() - t0) / 1e3 / n)
    const c = process.cpuUsage(c0)
    cpu = Math.min(cpu, (c.user + c.system) / n)
  }
  console.log('wasm verifyReceipt, ' + (name + ':').padEnd(32) + wall.toFixed(2).padStart(8) + ' µs wall (best) ' + cpu.toFixed(2).padStart(8) + ' µs CPU')
}
