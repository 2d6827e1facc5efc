#!/usr/bin/env python3
"""Interop of kwh-btc-iot's OpenTimestamps code with python-opentimestamps (PyPI).

    interop.py gen DIR    write py-*.ots (built with python-opentimestamps) and
                          py-*.json (the attestations each one reaches)
    interop.py check DIR  read the rs-*.ots files the Rust core wrote: each must
                          deserialize, serialize back to the same bytes, and reach
                          the attestations listed in rs-*.json; the fixtures in
                          tests/vectors/anchoring/ots must round-trip too

Run by scripts/test-anchoring.sh; the Rust side is the ignored test
`interop_with_the_reference_implementations` in core/tests/anchoring.rs.
"""
import hashlib
import json
import os
import sys

from opentimestamps.core.notary import (BitcoinBlockHeaderAttestation, LitecoinBlockHeaderAttestation,
                                        PendingAttestation, UnknownAttestation)
from opentimestamps.core.op import (OpAppend, OpHexlify, OpKECCAK256, OpPrepend, OpReverse, OpRIPEMD160,
                                    OpSHA1, OpSHA256)
from opentimestamps.core.serialize import BytesDeserializationContext, BytesSerializationContext
from opentimestamps.core.timestamp import DetachedTimestampFile, Timestamp, make_merkle_tree

HERE = os.path.dirname(os.path.abspath(__file__))


def entries(ts):
    out = []
    for msg, a in ts.all_attestations():
        name = type(a).__name__
        if isinstance(a, PendingAttestation):
            extra = 'pending ' + a.uri
        elif isinstance(a, BitcoinBlockHeaderAttestation):
            extra = 'bitcoin %d' % a.height
        elif isinstance(a, LitecoinBlockHeaderAttestation):
            extra = 'litecoin %d' % a.height
        elif name == 'EthereumBlockHeaderAttestation':
            extra = 'ethereum %d' % a.height
        elif isinstance(a, UnknownAttestation):
            extra = 'unknown %s %s' % (a.TAG.hex(), a.payload.hex())
        else:
            raise AssertionError(name)
        out.append(extra + ' ' + msg.hex())
    return sorted(out)


def serialize(f):
    ctx = BytesSerializationContext()
    f.serialize(ctx)
    return ctx.getbytes()


def deserialize(b):
    return DetachedTimestampFile.deserialize(BytesDeserializationContext(b))


def write(d, name, f):
    b = serialize(f)
    with open(os.path.join(d, name + '.ots'), 'wb') as fh:
        fh.write(b)
    with open(os.path.join(d, name + '.json'), 'w') as fh:
        json.dump(entries(f.timestamp), fh)


def gen(d):
    os.makedirs(d, exist_ok=True)
    # 1. A batch stamp as `ots stamp` builds it: per-file nonce, merkle tree,
    #    then two calendars and (later) a Bitcoin attestation on the tip.
    files = []
    for i in range(5):
        digest = hashlib.sha256(b'kwh-btc-iot head %d' % i).digest()
        f = DetachedTimestampFile(OpSHA256(), Timestamp(digest))
        nonce = bytes([i]) * 16
        files.append((f, f.timestamp.ops.add(OpAppend(nonce)).ops.add(OpSHA256())))
    tip = make_merkle_tree([s for _, s in files])
    alice = tip.ops.add(OpPrepend(b'\x5f\x00\x00\x01')).ops.add(OpSHA256())
    alice.attestations.add(PendingAttestation('https://alice.btc.calendar.opentimestamps.org'))
    bob = tip.ops.add(OpAppend(b'\x5f\x00\x00\x02')).ops.add(OpSHA256())
    bob.attestations.add(PendingAttestation('https://bob.btc.calendar.opentimestamps.org'))
    alice.ops.add(OpSHA256()).attestations.add(BitcoinBlockHeaderAttestation(912345))
    for i, (f, _) in enumerate(files):
        write(d, 'py-batch-%d' % i, f)
    # 2. Every op and attestation kind.
    f = DetachedTimestampFile(OpSHA1(), Timestamp(hashlib.sha1(b'all ops').digest()))
    t = f.timestamp
    for op in [OpAppend(b'\x01\x02'), OpPrepend(b'\x03'), OpReverse(), OpHexlify(), OpRIPEMD160(),
               OpKECCAK256(), OpSHA256()]:
        t = t.ops.add(op)
    t.attestations.add(LitecoinBlockHeaderAttestation(1234567))
    t.attestations.add(UnknownAttestation(bytes.fromhex('0102030405060708'), b'payload'))
    t.attestations.add(PendingAttestation('https://finney.calendar.eternitywall.com'))
    t.attestations.add(BitcoinBlockHeaderAttestation(1))
    write(d, 'py-all-ops', f)
    # 3. RIPEMD-160 file hash, several branches at the root.
    f = DetachedTimestampFile(OpRIPEMD160(), Timestamp(hashlib.new('ripemd160', b'x').digest()))
    for k in range(3):
        f.timestamp.ops.add(OpAppend(bytes([k + 1]))).attestations.add(BitcoinBlockHeaderAttestation(100 + k))
    f.timestamp.attestations.add(PendingAttestation('https://a.example'))
    write(d, 'py-branches', f)
    print('python-opentimestamps: wrote py-*.ots to', d)


def check(d):
    n = 0
    for name in sorted(os.listdir(d)):
        if not (name.startswith('rs-') and name.endswith('.ots')):
            continue
        b = open(os.path.join(d, name), 'rb').read()
        f = deserialize(b)
        assert serialize(f) == b, name + ': python re-serialization differs'
        want = json.load(open(os.path.join(d, name[:-4] + '.json')))
        assert entries(f.timestamp) == sorted(want), (name, entries(f.timestamp), want)
        n += 1
    assert n >= 4, 'only %d rs-*.ots files' % n
    # The fixtures written by python-opentimestamps round-trip in python too;
    # those written by javascript-opentimestamps keep their ops in insertion
    # order, which python re-sorts: same proof, other bytes.
    root = os.path.join(HERE, '..', 'ots')
    m = 0
    for dirpath, _, names in os.walk(root):
        for name in names:
            if name.endswith('.ots') and 'invalid' not in dirpath:
                b = open(os.path.join(dirpath, name), 'rb').read()
                f = deserialize(b)
                if 'javascript-opentimestamps' in dirpath:
                    assert entries(deserialize(serialize(f)).timestamp) == entries(f.timestamp), name
                else:
                    assert serialize(f) == b, name
                m += 1
    print('python-opentimestamps: %d files written by the Rust core read back byte for byte; %d fixtures checked' % (n, m))


if __name__ == '__main__':
    {'gen': gen, 'check': check}[sys.argv[1]](sys.argv[2])
