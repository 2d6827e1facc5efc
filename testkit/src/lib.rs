//! Test fixtures shared by the tests of the workspace (core, CLI, gateway)
//! and the gateway's stand-in examples: what a regtest chain and an
//! OpenTimestamps calendar would give, built with the core.
//!
//! * [`OpReturnTx`] / [`op_return_tx`]: a one-input transaction with a P2WPKH
//!   change output and `OP_RETURN <data>`;
//! * [`mine_regtest_header`] / [`regtest_header`]: a header mined to the
//!   regtest target;
//! * [`ots_proof`] / [`pending_proof`]: OpenTimestamps proofs of a digest
//!   shaped like a calendar's (nonce, commitment, calendar transaction, block
//!   merkle path, Bitcoin attestation), with [`tx_path_ops`] and [`wrap_ops`]
//!   for other shapes;
//! * [`BitcoinAnchor`]: a `bitcoin` anchor of a head hash (raw transaction,
//!   merkleblock, header, height).
//!
//! Everything is deterministic: the same arguments give the same bytes (the
//! anchored receipt vectors depend on it).
//!
//! ```
//! use kwh_btc_iot_core::encoding::bitcoin::Network;
//! let a = kwh_btc_iot_testkit::BitcoinAnchor::new(&[7; 32], 5, 200);
//! assert_eq!(a.index, 2);
//! a.header.check_pow(Network::Regtest).unwrap();
//! ```

use kwh_btc_iot_core::encoding::bitcoin::{
    sha256d, BlockHeader, Network, Transaction, TxIn, TxOut,
};
use kwh_btc_iot_core::encoding::ots::{
    Attestation, DetachedTimestampFile, Item, Op, TimestampTree,
};
use kwh_btc_iot_core::encoding::spv::{self, MerkleBlock};
use kwh_btc_iot_core::hash;
use kwh_btc_iot_core::json::Value;
use kwh_btc_iot_core::model::anchor::Anchor;

/// Regtest's nBits (target 0x7fffff << 232).
pub const REGTEST_BITS: u32 = 0x207f_ffff;
/// The previous block hash of [`regtest_header`].
pub const PREV_BLOCKHASH: [u8; 32] = [0x11; 32];
/// The block time of [`regtest_header`] (2025-12-06).
pub const HEADER_TIME: u32 = 1_765_000_000;
/// The coinbase txid of the fixture blocks.
pub const COINBASE_TXID: [u8; 32] = [0xcb; 32];
/// The calendar named in the pending attestations of [`ots_proof`].
pub const CALENDAR: &str = "https://alice.btc.calendar.opentimestamps.org";
/// The nonce a calendar appends to the digest it is sent ([`ots_proof`]).
pub const CALENDAR_NONCE: [u8; 16] = [0x5a; 16];

// ---------------------------------------------------------------------------
// Transactions

/// A transaction with one input and two outputs: P2WPKH change, then
/// `OP_RETURN <data>` (version 2, lock time 0). The fields are what the
/// fixtures vary; [`Default`] is the one of [`op_return_tx`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpReturnTx {
    /// The spent txid (output 0 of it).
    pub prev_txid: [u8; 32],
    /// scriptSig of the input.
    pub script_sig: Vec<u8>,
    /// nSequence of the input.
    pub sequence: u32,
    /// Value of the change output, satoshis.
    pub change_value: u64,
    /// Key hash of the P2WPKH change output.
    pub change_key_hash: [u8; 20],
}

impl Default for OpReturnTx {
    fn default() -> Self {
        OpReturnTx {
            prev_txid: [0x42; 32],
            script_sig: Vec::new(),
            sequence: 0xffff_ffff,
            change_value: 50_000,
            change_key_hash: [0x33; 20],
        }
    }
}

impl OpReturnTx {
    /// The serialized transaction carrying `data` (at most 65535 bytes) in its
    /// `OP_RETURN` output; `data` ends 4 bytes before the end (see
    /// [`data_position`]).
    pub fn build(&self, data: &[u8]) -> Vec<u8> {
        let input = TxIn {
            prev_txid: self.prev_txid,
            prev_vout: 0,
            script_sig: self.script_sig.clone(),
            sequence: self.sequence,
            witness: Vec::new(),
        };
        let mut change = vec![0x00, 0x14];
        change.extend_from_slice(&self.change_key_hash);
        let outputs = [
            TxOut {
                value: self.change_value,
                script_pubkey: change,
            },
            TxOut {
                value: 0,
                script_pubkey: op_return_script(data),
            },
        ];
        Transaction::serialize(2, &[input], &outputs, 0)
    }
}

/// `OP_RETURN <data>` in one push, as Bitcoin Core writes a data output: a
/// direct push up to 75 bytes, `OP_PUSHDATA1` up to 255, `OP_PUSHDATA2` above
/// (at most 65535 bytes).
pub fn op_return_script(data: &[u8]) -> Vec<u8> {
    let n = data.len();
    let mut s = vec![0x6a];
    match n {
        0..=75 => s.push(n as u8),
        76..=255 => s.extend_from_slice(&[0x4c, n as u8]),
        _ => {
            let n = u16::try_from(n).expect("OP_RETURN data of at most 65535 bytes");
            s.push(0x4d);
            s.extend_from_slice(&n.to_le_bytes());
        }
    }
    s.extend_from_slice(data);
    s
}

/// [`OpReturnTx::default`] carrying `data`.
pub fn op_return_tx(data: &[u8]) -> Vec<u8> {
    OpReturnTx::default().build(data)
}

/// Where the `len` bytes of `OP_RETURN` data start in a transaction built by
/// [`OpReturnTx::build`].
pub fn data_position(tx: &[u8], len: usize) -> usize {
    tx.len() - 4 - len
}

// ---------------------------------------------------------------------------
// Headers

/// A header (version 0x20000000) over `merkle_root` after `prev`, mined to
/// the regtest target.
pub fn mine_regtest_header(prev: [u8; 32], merkle_root: [u8; 32], time: u32) -> BlockHeader {
    let mut h = BlockHeader {
        version: 0x2000_0000,
        prev_blockhash: prev,
        merkle_root,
        time,
        bits: REGTEST_BITS,
        nonce: 0,
    };
    assert!(h.mine(Network::Regtest), "a regtest header mines");
    h
}

/// A header over `merkle_root` after [`PREV_BLOCKHASH`] at [`HEADER_TIME`],
/// mined to the regtest target.
pub fn regtest_header(merkle_root: [u8; 32]) -> BlockHeader {
    mine_regtest_header(PREV_BLOCKHASH, merkle_root, HEADER_TIME)
}

// ---------------------------------------------------------------------------
// OpenTimestamps proofs

/// Wraps `ops` (applied in order from the top) around `end`.
pub fn wrap_ops(ops: Vec<Op>, end: TimestampTree) -> TimestampTree {
    let mut t = end;
    for op in ops.into_iter().rev() {
        let mut parent = TimestampTree::default();
        parent.push_op(op, t);
        t = parent;
    }
    t
}

/// The ops from a message inside `tx` (`len` bytes at `pos`) to the merkle
/// root of the block whose txids are `txids`, `tx` being at `index`: prepend
/// and append the transaction bytes around the message, SHA-256 twice (the
/// txid), then per level of the block's merkle branch prepend or append the
/// sibling and SHA-256 twice, as the calendars write it.
pub fn tx_path_ops(tx: &[u8], pos: usize, len: usize, txids: &[[u8; 32]], index: usize) -> Vec<Op> {
    let mut ops = vec![
        Op::Prepend(tx[..pos].to_vec()),
        Op::Append(tx[pos + len..].to_vec()),
        Op::Sha256,
        Op::Sha256,
    ];
    let mut i = index;
    for sib in spv::merkle_branch(txids, index).expect("index in the block") {
        ops.push(if i % 2 == 1 {
            Op::Prepend(sib.to_vec())
        } else {
            Op::Append(sib.to_vec())
        });
        ops.extend([Op::Sha256, Op::Sha256]);
        i /= 2;
    }
    ops
}

/// The commitment a calendar keeps for `digest`: SHA-256 of the digest and
/// [`CALENDAR_NONCE`].
pub fn calendar_commitment(digest: &[u8; 32]) -> [u8; 32] {
    hash::sha256(&[&digest[..], &CALENDAR_NONCE[..]].concat()).0
}

/// A detached `.ots` file (SHA-256 of `digest`) whose timestamp is
/// `append(nonce)`, `sha256`, then the commitment node `commitment`.
pub fn calendar_file(digest: &[u8; 32], commitment: TimestampTree) -> Vec<u8> {
    let top = wrap_ops(
        vec![Op::Append(CALENDAR_NONCE.to_vec()), Op::Sha256],
        commitment,
    );
    DetachedTimestampFile::new(Op::Sha256, digest.to_vec(), top)
        .expect("a valid file")
        .to_bytes()
        .expect("writes")
}

/// The `.ots` file of `digest` as a calendar first answers: the commitment
/// with a pending attestation of [`CALENDAR`].
pub fn pending_proof(digest: &[u8; 32]) -> Vec<u8> {
    calendar_file(
        digest,
        TimestampTree::with_attestation(Attestation::Pending {
            uri: CALENDAR.into(),
        }),
    )
}

/// A complete `.ots` file of `digest` shaped like the calendars' (nonce,
/// commitment with a pending attestation of [`CALENDAR`], the calendar's
/// `OP_RETURN` transaction, its merkle path in a block of two transactions,
/// a Bitcoin attestation at `height`), and the regtest header it needs.
pub fn ots_proof(digest: &[u8; 32], height: u64) -> (Vec<u8>, BlockHeader) {
    let c = calendar_commitment(digest);
    let tx = op_return_tx(&c);
    let txids = [COINBASE_TXID, sha256d(&tx)];
    let (root, _) = kwh_btc_iot_core::encoding::bitcoin::merkle_root(&txids).expect("two txids");
    let header = regtest_header(root);
    let ops = tx_path_ops(&tx, data_position(&tx, c.len()), c.len(), &txids, 1);
    let mut commitment = wrap_ops(
        ops,
        TimestampTree::with_attestation(Attestation::Bitcoin { height }),
    );
    commitment.items.insert(
        0,
        Item::Attestation(Attestation::Pending {
            uri: CALENDAR.into(),
        }),
    );
    (calendar_file(digest, commitment), header)
}

// ---------------------------------------------------------------------------
// Bitcoin anchors

/// The txids of a fixture block of `n` (at least 3) transactions with `txid`
/// at index 2: [`COINBASE_TXID`], `[0x01; 32]`, `txid`, `[0x02; 32]`,
/// `[0x03; 32]`, ...
pub fn block_txids(txid: [u8; 32], n: usize) -> Vec<[u8; 32]> {
    assert!(
        (3..=256).contains(&n),
        "a fixture block has 3 to 256 transactions"
    );
    let mut v = vec![COINBASE_TXID, [0x01; 32], txid];
    v.extend((3..n).map(|i| [(i - 1) as u8; 32]));
    v
}

/// A `bitcoin` anchor: a transaction at index 2 of a regtest block
/// ([`block_txids`], [`regtest_header`]), its merkleblock and height.
#[derive(Debug, Clone)]
pub struct BitcoinAnchor {
    /// The transaction.
    pub raw_tx: Vec<u8>,
    /// Its txid, internal order.
    pub txid: [u8; 32],
    /// The block's txids.
    pub txids: Vec<[u8; 32]>,
    /// The transaction's index in the block (2).
    pub index: usize,
    /// The block header, mined.
    pub header: BlockHeader,
    /// The merkleblock proving the transaction.
    pub merkleblock: MerkleBlock,
    /// The height the anchor states.
    pub height: u64,
}

impl BitcoinAnchor {
    /// The anchor of `head_hash`: [`op_return_tx`] of it in a block of
    /// `block_txs` transactions at `height`.
    pub fn new(head_hash: &[u8; 32], block_txs: usize, height: u64) -> Self {
        BitcoinAnchor::of_tx(op_return_tx(head_hash), block_txs, height)
    }

    /// The anchor of the transaction `raw_tx` in a block of `block_txs`
    /// transactions at `height`.
    pub fn of_tx(raw_tx: Vec<u8>, block_txs: usize, height: u64) -> Self {
        let txid = sha256d(&raw_tx);
        let txids = block_txids(txid, block_txs);
        let (root, _) = kwh_btc_iot_core::encoding::bitcoin::merkle_root(&txids).expect("txids");
        let header = regtest_header(root);
        let merkleblock = MerkleBlock::new(header, &txids, &Self::matches(&txids, 2));
        BitcoinAnchor {
            raw_tx,
            txid,
            txids,
            index: 2,
            header,
            merkleblock,
            height,
        }
    }

    /// The match flags of a merkleblock of this block proving the
    /// transaction at `index` only.
    pub fn matches(txids: &[[u8; 32]], index: usize) -> Vec<bool> {
        (0..txids.len()).map(|i| i == index).collect()
    }

    /// The merkleblock's bytes (`gettxoutproof`).
    pub fn merkleblock_bytes(&self) -> Vec<u8> {
        self.merkleblock.to_bytes()
    }

    /// The typed `bitcoin` anchor of a receipt.
    pub fn to_anchor(&self) -> Anchor {
        Anchor::bitcoin(&self.raw_tx, &self.merkleblock_bytes(), self.height)
            .expect("the testkit's transaction and merkleblock decode")
    }

    /// The anchor object of a receipt, as JSON.
    pub fn to_value(&self) -> Value<'static> {
        kwh_btc_iot_core::json::parse(self.to_anchor().to_json().as_bytes())
            .expect("canonical JSON")
            .into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kwh_btc_iot_core::encoding::ots::Reached;

    /// The bytes the fixtures wrote by hand before this crate.
    fn by_hand(
        prev: [u8; 32],
        script_sig: &[u8],
        seq: u32,
        value: u64,
        key: u8,
        data: &[u8],
    ) -> Vec<u8> {
        let mut t = vec![2, 0, 0, 0, 1];
        t.extend_from_slice(&prev);
        t.extend_from_slice(&[0, 0, 0, 0, script_sig.len() as u8]);
        t.extend_from_slice(script_sig);
        t.extend_from_slice(&seq.to_le_bytes());
        t.push(2);
        t.extend_from_slice(&value.to_le_bytes());
        t.extend_from_slice(&[22, 0x00, 0x14]);
        t.extend_from_slice(&[key; 20]);
        t.extend_from_slice(&0u64.to_le_bytes());
        t.push(2 + data.len() as u8);
        t.push(0x6a);
        t.push(data.len() as u8);
        t.extend_from_slice(data);
        t.extend_from_slice(&[0; 4]);
        t
    }

    #[test]
    fn op_return_transactions_have_the_fixture_bytes_and_parse() {
        let d = [0x77; 32];
        let tx = op_return_tx(&d);
        assert_eq!(tx, by_hand([0x42; 32], &[], 0xffff_ffff, 50_000, 0x33, &d));
        let signed = OpReturnTx {
            script_sig: vec![0x51],
            sequence: 0xffff_fffd,
            ..Default::default()
        };
        assert_eq!(
            signed.build(&d),
            by_hand([0x42; 32], &[0x51], 0xffff_fffd, 50_000, 0x33, &d)
        );
        let t = Transaction::parse(&tx).unwrap();
        assert_eq!(t.outputs[1].op_return_data(), Some(d.to_vec()));
        assert_eq!(&tx[data_position(&tx, 32)..][..32], &d);
        // Longer data: OP_PUSHDATA1, OP_PUSHDATA2, still nulldata.
        for (n, prefix) in [
            (75, &[0x6a, 75][..]),
            (80, &[0x6a, 0x4c, 80]),
            (300, &[0x6a, 0x4d, 0x2c, 0x01]),
        ] {
            let data = vec![9u8; n];
            let script = op_return_script(&data);
            assert_eq!(&script[..prefix.len()], prefix);
            assert_eq!(script.len(), prefix.len() + n);
            let tx = op_return_tx(&data);
            let t = Transaction::parse(&tx).unwrap();
            assert_eq!(t.outputs[1].op_return_data(), Some(data));
            assert_eq!(data_position(&tx, n), tx.len() - 4 - n);
        }
    }

    #[test]
    fn headers_meet_the_regtest_target() {
        let h = regtest_header([5; 32]);
        h.check_pow(Network::Regtest).unwrap();
        assert_eq!(
            (h.prev_blockhash, h.time, h.bits),
            (PREV_BLOCKHASH, HEADER_TIME, REGTEST_BITS)
        );
        assert!(h.check_pow(Network::Mainnet).is_err());
        let next = mine_regtest_header(h.hash(), [6; 32], HEADER_TIME + 600);
        assert_eq!(next.prev_blockhash, h.hash());
        next.check_pow(Network::Regtest).unwrap();
    }

    #[test]
    fn ots_proofs_verify_against_their_header() {
        let digest = [0x21; 32];
        let (ots, header) = ots_proof(&digest, 150);
        let f = DetachedTimestampFile::parse(&ots).unwrap();
        let headers = [(150u64, header)].into_iter().collect();
        let r = kwh_btc_iot_core::verify::anchor::verify_ots_proof(
            &f,
            &digest,
            &headers,
            Network::Regtest,
        )
        .unwrap();
        assert_eq!(
            (r.status, r.height),
            (kwh_btc_iot_core::verify::AnchorStatus::Verified, Some(150))
        );
        let reached: Vec<Reached> = f.replay().unwrap();
        assert!(reached
            .iter()
            .any(|a| matches!(&a.attestation, Attestation::Pending { uri } if uri == CALENDAR)));
        assert!(reached.iter().any(|a| a.msg == header.merkle_root));
        // The pending proof shares the top of the complete one.
        let p = DetachedTimestampFile::parse(&pending_proof(&digest)).unwrap();
        let pr = p.replay().unwrap();
        assert_eq!(pr.len(), 1);
        assert_eq!(pr[0].msg, calendar_commitment(&digest).to_vec());
    }

    #[test]
    fn bitcoin_anchors_verify_in_receipts_shape() {
        for n in [3, 4, 5, 9] {
            let a = BitcoinAnchor::new(&[0x44; 32], n, 200);
            assert_eq!(a.txids.len(), n);
            assert_eq!(a.txids[2], a.txid);
            let mb = MerkleBlock::parse(&a.merkleblock_bytes()).unwrap();
            assert_eq!(mb.header, a.header);
            let v = a.to_value();
            let text = kwh_btc_iot_core::jcs::to_string(&v);
            assert!(
                text.contains(&kwh_btc_iot_core::encoding::hex::encode(&a.raw_tx)),
                "{text}"
            );
            assert!(text.contains("\"height\":200"), "{text}");
        }
    }
}
