#!/usr/bin/env node
// Interop of kwh-btc-iot's OpenTimestamps code with javascript-opentimestamps (npm).
//
//   node interop.js gen DIR    write js-*.ots (built with javascript-opentimestamps)
//                              and js-*.json (the attestations each one reaches)
//   node interop.js check DIR  read the rs-*.ots files the Rust core wrote: each must
//                              deserialize, serialize back to the same bytes and reach
//                              the attestations in rs-*.json; the fixtures too
//
// javascript-opentimestamps 0.4.9 has no keccak256 op and its hexlify returns
// nothing: rs-pyonly-*.ots (which use them) are skipped here.
// Run by scripts/test-anchoring.sh (npm install in this directory first).
'use strict'
const fs = require('fs')
const path = require('path')
const crypto = require('crypto')
const OTS = require('opentimestamps')

const hex = (a) => Buffer.from(a).toString('hex')

function entries (ts) {
  const out = []
  const walk = (t) => {
    for (const a of t.attestations) {
      let e
      if (a instanceof OTS.Notary.PendingAttestation) e = 'pending ' + a.uri
      else if (a instanceof OTS.Notary.BitcoinBlockHeaderAttestation) e = 'bitcoin ' + a.height
      else if (a instanceof OTS.Notary.LitecoinBlockHeaderAttestation) e = 'litecoin ' + a.height
      else if (a instanceof OTS.Notary.UnknownAttestation) e = 'unknown ' + hex(a._TAG()) + ' ' + hex(a.payload)
      else throw new Error('attestation ' + a)
      out.push(e + ' ' + hex(t.msg))
    }
    t.ops.forEach((stamp) => walk(stamp))
  }
  walk(ts)
  return out.sort()
}

function write (dir, name, f) {
  fs.writeFileSync(path.join(dir, name + '.ots'), Buffer.from(f.serializeToBytes()))
  fs.writeFileSync(path.join(dir, name + '.json'), JSON.stringify(entries(f.timestamp)))
}

function gen (dir) {
  fs.mkdirSync(dir, { recursive: true })
  // A stamp as `ots stamp` builds it: nonce, sha256, two calendars, then Bitcoin.
  const digest = Array.from(crypto.createHash('sha256').update('kwh-btc-iot js head').digest())
  const f = OTS.DetachedTimestampFile.fromHash(new OTS.Ops.OpSHA256(), digest)
  const commit = f.timestamp.add(new OTS.Ops.OpAppend(Array(16).fill(7))).add(new OTS.Ops.OpSHA256())
  const alice = commit.add(new OTS.Ops.OpPrepend([0x5f, 0, 0, 1])).add(new OTS.Ops.OpSHA256())
  alice.attestations.push(new OTS.Notary.PendingAttestation('https://alice.btc.calendar.opentimestamps.org'))
  const bob = commit.add(new OTS.Ops.OpAppend([0x5f, 0, 0, 2])).add(new OTS.Ops.OpSHA256())
  bob.attestations.push(new OTS.Notary.PendingAttestation('https://bob.btc.calendar.opentimestamps.org'))
  alice.add(new OTS.Ops.OpSHA256()).attestations.push(new OTS.Notary.BitcoinBlockHeaderAttestation(912345))
  write(dir, 'js-stamp', f)
  // Every op this library implements (not hexlify: broken here), every attestation kind.
  const g = OTS.DetachedTimestampFile.fromHash(new OTS.Ops.OpSHA1(), Array.from(crypto.createHash('sha1').update('all ops').digest()))
  let t = g.timestamp
  for (const op of [new OTS.Ops.OpAppend([1, 2]), new OTS.Ops.OpPrepend([3]), new OTS.Ops.OpReverse(), new OTS.Ops.OpRIPEMD160(), new OTS.Ops.OpSHA256()]) {
    t = t.add(op)
  }
  t.attestations.push(new OTS.Notary.LitecoinBlockHeaderAttestation(1234567))
  t.attestations.push(new OTS.Notary.UnknownAttestation([1, 2, 3, 4, 5, 6, 7, 8], Array.from(Buffer.from('payload'))))
  t.attestations.push(new OTS.Notary.BitcoinBlockHeaderAttestation(1))
  write(dir, 'js-all-ops', g)
  console.log('javascript-opentimestamps: wrote js-*.ots to', dir)
}

function check (dir) {
  let n = 0
  let skipped = 0
  for (const name of fs.readdirSync(dir).sort()) {
    if (!name.startsWith('rs-') || !name.endsWith('.ots')) continue
    if (name.startsWith('rs-pyonly-')) { skipped++; continue }
    const b = fs.readFileSync(path.join(dir, name))
    const f = OTS.DetachedTimestampFile.deserialize(Array.from(b))
    const back = Buffer.from(f.serializeToBytes())
    if (!back.equals(b)) throw new Error(name + ': javascript re-serialization differs')
    const want = JSON.parse(fs.readFileSync(path.join(dir, name.slice(0, -4) + '.json'))).sort()
    const got = entries(f.timestamp)
    if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(name + ': ' + JSON.stringify(got) + ' != ' + JSON.stringify(want))
    n++
  }
  if (n < 3) throw new Error('only ' + n + ' rs-*.ots files')
  let m = 0
  let unreadable = 0
  const root = path.join(__dirname, '..', 'ots')
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name)
      if (e.isDirectory()) { if (e.name !== 'invalid') walk(p) } else if (e.name.endsWith('.ots')) {
        // Its Ethereum branch uses keccak256, which this library lacks.
        if (e.name === 'different-blockchains.txt.ots') { unreadable++; continue }
        const b = fs.readFileSync(p)
        const back = Buffer.from(OTS.DetachedTimestampFile.deserialize(Array.from(b)).serializeToBytes())
        if (!back.equals(b)) throw new Error(p + ': fixture does not round-trip in javascript')
        m++
      }
    }
  }
  walk(root)
  console.log('javascript-opentimestamps: ' + n + ' files written by the Rust core read back byte for byte (' + skipped + ' files with keccak256/hexlify skipped: missing or broken in this library); ' + m + ' fixtures round-trip, ' + unreadable + ' unreadable here (keccak256)')
}

({ gen, check })[process.argv[2]](process.argv[3])
