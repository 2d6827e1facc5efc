#!/usr/bin/env python3
"""Checks the anchors of receipts without the Rust core: the reference
OpenTimestamps implementation (PyPI `opentimestamps`) reads each `.ots`,
hashlib and rfc8785 do the rest.

For every receipt (NDJSON, one per line) and each of its anchors:
  * the head hash is SHA-256(0x02 || JCS(batch_head)); with `heads`, each later
    head links to the one before by `prev_head_hash` and the anchored digest is
    the hash of the last one;
  * opentimestamps: the file's digest is that hash; every Bitcoin attestation's
    message equals the merkle root (bytes 36..68) of the carried header; the
    header's double SHA-256 meets its nBits target, itself no easier than the
    network's limit;
  * bitcoin: the transaction has an OP_RETURN output ending in the digest, and
    the header's proof of work holds.

Usage: check_anchors.py RECEIPTS.ndjson [--network regtest] [--require verified]
Exit status 0 only if every receipt has at least one anchor and every anchor
checks out (and with --require verified, each receipt has one reaching a block).
"""
import argparse
import hashlib
import json
import sys

import rfc8785
from opentimestamps.core.notary import BitcoinBlockHeaderAttestation, PendingAttestation
from opentimestamps.core.serialize import BytesDeserializationContext
from opentimestamps.core.timestamp import DetachedTimestampFile

LIMITS = {
    "mainnet": 0x00000000FFFF << (8 * (0x1D - 3)),
    "testnet": 0x00000000FFFF << (8 * (0x1D - 3)),
    "signet": 0x00000377AE << (8 * (0x1E - 3)),
    "regtest": 0x7FFFFF << (8 * (0x20 - 3)),
}


def sha256(b):
    return hashlib.sha256(b).digest()


def head_hash(head):
    return sha256(b"\x02" + rfc8785.dumps(head))


def decode(s):
    try:
        return bytes.fromhex(s)
    except ValueError:
        import base64

        return base64.b64decode(s + "=" * (-len(s) % 4), altchars=b"-_" if ("-" in s or "_" in s) else None)


def check_pow(header, network):
    if len(header) != 80:
        raise ValueError("header is not 80 bytes")
    bits = int.from_bytes(header[72:76], "little")
    exp, mant = bits >> 24, bits & 0x7FFFFF
    if bits & 0x800000 or mant == 0:
        raise ValueError("nBits is negative or zero")
    target = mant << (8 * (exp - 3)) if exp > 3 else mant >> (8 * (3 - exp))
    if target > LIMITS[network]:
        raise ValueError(f"target easier than the {network} limit")
    h = int.from_bytes(sha256(sha256(header)), "little")
    if h > target:
        raise ValueError("proof of work does not meet nBits")
    return sha256(sha256(header))[::-1].hex()


def anchored_digest(receipt, anchor):
    prev = head_hash(receipt["batch_head"])
    seq = receipt["batch_head"]["seq"]
    for h in anchor.get("heads", []):
        if h.get("prev_head_hash") != prev.hex() or h["seq"] != seq + 1:
            raise ValueError("heads chain broken")
        if h["gateway_id"] != receipt["batch_head"]["gateway_id"]:
            raise ValueError("heads chain changes gateway")
        prev, seq = head_hash(h), h["seq"]
    return prev


def check_ots(anchor, digest, network):
    raw = decode(anchor["ots"])
    f = DetachedTimestampFile.deserialize(BytesDeserializationContext(raw))
    if f.file_digest != digest:
        raise ValueError("the .ots digest is not the anchored head hash")
    headers = {int(k): decode(v) for k, v in anchor.get("headers", {}).items()}
    blocks, pending = [], 0
    for msg, att in f.timestamp.all_attestations():
        if isinstance(att, BitcoinBlockHeaderAttestation):
            header = headers.get(att.height)
            if header is None:
                continue
            if msg != header[36:68]:
                raise ValueError(f"block {att.height}: message is not the header's merkle root")
            blocks.append((att.height, check_pow(header, network)))
        elif isinstance(att, PendingAttestation):
            pending += 1
    return blocks, pending


def tx_outputs(tx):
    """The output scripts of a serialized transaction (BIP 144 form too)."""
    pos = 4

    def varint():
        nonlocal pos
        n = tx[pos]
        pos += 1
        if n < 0xFD:
            return n
        size = {0xFD: 2, 0xFE: 4, 0xFF: 8}[n]
        v = int.from_bytes(tx[pos : pos + size], "little")
        pos += size
        return v

    if tx[4:6] == b"\x00\x01":
        pos += 2
    for _ in range(varint()):
        pos += 36
        n = varint()  # (not `pos += varint()`: varint moves pos itself)
        pos += n + 4
    scripts = []
    for _ in range(varint()):
        pos += 8
        n = varint()
        scripts.append(tx[pos : pos + n])
        pos += n
    if pos > len(tx):
        raise ValueError("transaction truncated")
    return scripts


def check_bitcoin(anchor, digest, network):
    tx = decode(anchor["raw_tx"])
    if not any(s[:1] == b"\x6a" and s.endswith(digest) and len(s) <= 83 for s in tx_outputs(tx)):
        raise ValueError("no OP_RETURN output ending in the anchored hash")
    header = decode(anchor["header"]) if "header" in anchor else decode(anchor["merkle_proof"])[:80]
    return [(anchor["height"], check_pow(header, network))], 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("receipts")
    ap.add_argument("--network", default="mainnet", choices=sorted(LIMITS))
    ap.add_argument("--require", choices=["verified", "any"], default="any")
    a = ap.parse_args()
    n = verified = 0
    with open(a.receipts, encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            r = json.loads(line)
            n += 1
            anchors = r.get("anchors", [])
            if not anchors:
                sys.exit(f"line {line_no}: no anchors")
            reached = False
            for i, anc in enumerate(anchors):
                try:
                    digest = anchored_digest(r, anc)
                    if anc["type"] == "opentimestamps":
                        blocks, _ = check_ots(anc, digest, a.network)
                    elif anc["type"] == "bitcoin":
                        blocks, _ = check_bitcoin(anc, digest, a.network)
                    else:
                        continue
                except (ValueError, KeyError) as e:
                    sys.exit(f"line {line_no}: anchors[{i}] ({anc.get('type')}): {e}")
                reached = reached or bool(blocks)
            if a.require == "verified" and not reached:
                sys.exit(f"line {line_no}: no anchor reaches a Bitcoin block")
            verified += reached
    if n == 0:
        sys.exit("no receipts")
    print(f"check_anchors: {n} receipts, {verified} anchored in a block ({a.network}), checked with python-opentimestamps + hashlib")


if __name__ == "__main__":
    main()
