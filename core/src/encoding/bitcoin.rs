//! Bitcoin data structures needed to check an anchor offline: the 80-byte
//! block header (hash, proof of work against nBits and the network's limit),
//! transactions with and without witness (txid, wtxid, outputs, OP_RETURN),
//! and whole blocks (merkle root recomputed, with Bitcoin Core's mutation
//! check). Hashes are kept in internal (serialized) byte order; the
//! `*_display` helpers give the reversed hex that explorers and RPCs show.
//!
//! ```
//! use kwh_btc_iot_core::encoding::bitcoin::{BlockHeader, Network};
//! let h = BlockHeader::from_hex("02000000b96394585a281b7e5f438fd1c9ed492645a1fd61cb3802040000000000000000007ee445d23ad061af4a36b809501fab1ac4f2d7e7a739817dd0cbb7ec661b8a1e376755f58616186272def6").unwrap();
//! assert_eq!(h.block_hash_display(), "000000000000000003e892881a8cdcdc117c06d444057c98b6f04a9ee75a2319");
//! h.check_pow(Network::Mainnet).unwrap();
//! assert_eq!(h.time, 1432827678);
//! ```

use std::fmt;

use sha2::{Digest, Sha256};

/// Largest transaction accepted, in bytes (a block's weight limit / 1).
pub const MAX_TX_BYTES: usize = 4_000_000;
/// Largest block accepted, in bytes.
pub const MAX_BLOCK_BYTES: usize = 4_000_000;
/// Most transactions in a block (Bitcoin Core: MAX_BLOCK_WEIGHT / MIN_TRANSACTION_WEIGHT).
pub const MAX_BLOCK_TXS: u32 = 4_000_000 / 240;

use super::binary::{write_compact_size, Reader};
use super::{hex, DecodeError};

type Result<T> = std::result::Result<T, DecodeError>;

/// SHA-256 twice: txids, block hashes and merkle nodes. Internal byte order.
///
/// ```
/// # // The genesis block's coinbase transaction.
/// # let genesis_tx_hex = concat!("01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff4d",
/// #     "04ffff001d0104455468652054696d65732030332f4a616e2f32303039204368616e63656c6c6f72206f6e206272696e6b206f66207365636f6e64206261696c6f757420666f722062616e6b73",
/// #     "ffffffff0100f2052a01000000434104678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f35504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5fac00000000");
/// use kwh_btc_iot_core::encoding::bitcoin::{decode_hex, display_hex, sha256d};
/// let txid = sha256d(&decode_hex(genesis_tx_hex).unwrap());
/// assert_eq!(display_hex(&txid), "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b");
/// ```
pub fn sha256d(data: &[u8]) -> [u8; 32] {
    Sha256::digest(Sha256::digest(data)).into()
}

/// SHA-256 twice of two concatenated hashes (a merkle node).
///
/// ```
/// use kwh_btc_iot_core::encoding::bitcoin::{sha256d, sha256d_pair};
/// let (a, b) = ([1u8; 32], [2u8; 32]);
/// assert_eq!(sha256d_pair(&a, &b), sha256d(&[a, b].concat()));
/// ```
pub fn sha256d_pair(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(left);
    buf[32..].copy_from_slice(right);
    sha256d(&buf)
}

/// Hex of a hash in display order (byte-reversed), as explorers show txids and block hashes.
///
/// ```
/// # let genesis_hex = "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c";
/// use kwh_btc_iot_core::encoding::bitcoin::{display_hex, BlockHeader};
/// let h = BlockHeader::from_hex(genesis_hex).unwrap();
/// assert_eq!(display_hex(&h.hash()), "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f");
/// ```
pub fn display_hex(internal: &[u8; 32]) -> String {
    let mut r = *internal;
    r.reverse();
    hex::encode(&r)
}

/// Parses a display-order hash (64 hex characters) into internal order.
///
/// ```
/// use kwh_btc_iot_core::encoding::bitcoin::{display_hex, from_display_hex};
/// let internal = from_display_hex("000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f").unwrap();
/// assert_eq!(internal[31], 0x00); // the leading zeros of the display form come last
/// assert_eq!(display_hex(&internal), "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f");
/// ```
pub fn from_display_hex(s: &str) -> Result<[u8; 32]> {
    let mut h = hash_from_hex(s)?;
    h.reverse();
    Ok(h)
}

/// Parses 64 hex characters (either case) into 32 bytes, no reversal.
///
/// ```
/// use kwh_btc_iot_core::encoding::bitcoin::hash_from_hex;
/// let h = hash_from_hex("3BA3EDFD7A7B12B27AC72C3E67768F617FC81BC3888A51323A9FB8AA4B1E5E4A").unwrap();
/// assert_eq!(h[0], 0x3b);
/// assert!(hash_from_hex("3ba3").is_err());
/// ```
pub fn hash_from_hex(s: &str) -> Result<[u8; 32]> {
    let b = decode_hex(s)?;
    b.try_into()
        .map_err(|_| DecodeError::new("bad_length", "a hash must be 64 hex characters"))
}

/// Decodes hex (either case, even length).
///
/// ```
/// use kwh_btc_iot_core::encoding::bitcoin::decode_hex;
/// assert_eq!(decode_hex("6A20").unwrap(), [0x6a, 0x20]);
/// assert_eq!(decode_hex("6a2").unwrap_err().code, "bad_hex");
/// ```
pub fn decode_hex(s: &str) -> Result<Vec<u8>> {
    hex::decode(s.as_bytes()).ok_or_else(|| {
        DecodeError::new(
            "bad_hex",
            if s.len() % 2 == 1 {
                "hex must have an even number of characters"
            } else {
                "must be hex (0-9, a-f, A-F)"
            },
        )
    })
}

/// The merkle root of txids (internal order) as Bitcoin Core's
/// `ComputeMerkleRoot`, and whether the list is "mutated" (two equal
/// siblings somewhere). `None` for an empty list.
///
/// ```
/// use kwh_btc_iot_core::encoding::bitcoin::{from_display_hex, merkle_root};
/// // A block with only its coinbase: the root is the txid (the genesis block).
/// let txid = from_display_hex("4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b").unwrap();
/// assert_eq!(merkle_root(&[txid]), Some((txid, false)));
/// assert_eq!(merkle_root(&[txid, txid]).unwrap().1, true); // mutated: two equal siblings
/// assert_eq!(merkle_root(&[]), None);
/// ```
pub fn merkle_root(txids: &[[u8; 32]]) -> Option<([u8; 32], bool)> {
    if txids.is_empty() {
        return None;
    }
    let mut level = txids.to_vec();
    let mut mutated = false;
    while level.len() > 1 {
        for pair in level.chunks_exact(2) {
            if pair[0] == pair[1] {
                mutated = true;
            }
        }
        if level.len() % 2 == 1 {
            let last = level[level.len() - 1];
            level.push(last);
        }
        level = level
            .chunks_exact(2)
            .map(|p| sha256d_pair(&p[0], &p[1]))
            .collect();
    }
    Some((level[0], mutated))
}

/// A Bitcoin network: which proof-of-work limit applies.
///
/// ```
/// use kwh_btc_iot_core::encoding::bitcoin::Network;
/// assert_eq!(Network::default(), Network::Mainnet);
/// assert_eq!(Network::parse("testnet4"), Some(Network::Testnet));
/// assert!(Network::Regtest.pow_limit() > Network::Mainnet.pow_limit());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Network {
    /// Bitcoin mainnet (the default).
    #[default]
    Mainnet,
    /// testnet3 / testnet4 (same limit as mainnet; difficulty may drop to it).
    Testnet,
    /// Default signet.
    Signet,
    /// Regtest (almost no work).
    Regtest,
}

impl Network {
    /// The name written in an anchor's `network` and in results: `mainnet`,
    /// `testnet`, `signet` or `regtest`.
    ///
    /// ```
    /// use kwh_btc_iot_core::encoding::bitcoin::Network;
    /// assert_eq!(Network::Signet.as_str(), "signet");
    /// assert_eq!(Network::parse(Network::Regtest.as_str()), Some(Network::Regtest));
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Network::Mainnet => "mainnet",
            Network::Testnet => "testnet",
            Network::Signet => "signet",
            Network::Regtest => "regtest",
        }
    }

    /// Parses a name (`mainnet`/`bitcoin`/`main`, `testnet`/`testnet3`/`testnet4`/`test`, `signet`, `regtest`).
    ///
    /// ```
    /// use kwh_btc_iot_core::encoding::bitcoin::Network;
    /// assert_eq!(Network::parse("bitcoin"), Some(Network::Mainnet));
    /// assert_eq!(Network::parse("Mainnet"), None);
    /// ```
    pub fn parse(s: &str) -> Option<Network> {
        Some(match s {
            "mainnet" | "bitcoin" | "main" => Network::Mainnet,
            "testnet" | "testnet3" | "testnet4" | "test" => Network::Testnet,
            "signet" => Network::Signet,
            "regtest" => Network::Regtest,
            _ => return None,
        })
    }

    /// The easiest target allowed (Bitcoin Core `powLimit`), big-endian.
    ///
    /// ```
    /// use kwh_btc_iot_core::encoding::bitcoin::{target_from_bits, Network};
    /// let limit = Network::Mainnet.pow_limit();
    /// assert_eq!(&limit[..5], &[0, 0, 0, 0, 0xff]);
    /// // The genesis block's target (nBits 0x1d00ffff) is within it.
    /// assert!(target_from_bits(0x1d00ffff).unwrap() <= limit);
    /// ```
    pub fn pow_limit(self) -> [u8; 32] {
        let mut l = [0u8; 32];
        match self {
            Network::Mainnet | Network::Testnet => {
                // 00000000ffffffff...
                l[4..].fill(0xff);
            }
            Network::Signet => {
                // 00000377ae000000...
                l[2] = 0x03;
                l[3] = 0x77;
                l[4] = 0xae;
            }
            Network::Regtest => {
                // 7fffffff...
                l.fill(0xff);
                l[0] = 0x7f;
            }
        }
        l
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Expands a compact target (nBits) into a 256-bit big-endian number, as
/// Bitcoin Core's `arith_uint256::SetCompact`; refuses negative, zero and
/// overflowing encodings (as `CheckProofOfWork`).
///
/// ```
/// use kwh_btc_iot_core::encoding::bitcoin::target_from_bits;
/// let t = target_from_bits(0x1d00ffff).unwrap();
/// assert_eq!(&t[..6], &[0, 0, 0, 0, 0xff, 0xff]);
/// assert!(target_from_bits(0x01803456).is_err()); // negative
/// ```
pub fn target_from_bits(bits: u32) -> Result<[u8; 32]> {
    let size = (bits >> 24) as usize;
    let word = bits & 0x007f_ffff;
    if word != 0 && bits & 0x0080_0000 != 0 {
        return Err(DecodeError::new(
            "bad_target",
            format!("nBits {bits:08x} encodes a negative target"),
        ));
    }
    if word != 0 && (size > 34 || (word > 0xff && size > 33) || (word > 0xffff && size > 32)) {
        return Err(DecodeError::new(
            "bad_target",
            format!("nBits {bits:08x} overflows 256 bits"),
        ));
    }
    let mut t = [0u8; 32];
    let w = word.to_be_bytes(); // w[0] == 0; mantissa in w[1..4]
    if size <= 3 {
        let v = word >> (8 * (3 - size));
        t[28..].copy_from_slice(&v.to_be_bytes());
    } else {
        // The mantissa's 3 bytes end at byte index 31 - (size - 3).
        let shift = size - 3;
        for (i, b) in w[1..].iter().enumerate() {
            // byte i of the mantissa (big-endian) lands at 32 - 3 + i - shift
            let pos = 29 + i;
            if pos >= shift {
                let p = pos - shift;
                if p < 32 {
                    t[p] = *b;
                }
            }
        }
    }
    if t == [0u8; 32] {
        return Err(DecodeError::new(
            "bad_target",
            format!("nBits {bits:08x} encodes a zero target"),
        ));
    }
    Ok(t)
}

/// An 80-byte block header.
///
/// ```
/// # let genesis_hex = "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c";
/// use kwh_btc_iot_core::encoding::bitcoin::BlockHeader;
/// let h = BlockHeader::from_hex(genesis_hex).unwrap();
/// assert_eq!((h.version, h.time, h.bits, h.nonce), (1, 1231006505, 0x1d00ffff, 2083236893));
/// assert_eq!(h.prev_blockhash, [0; 32]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlockHeader {
    /// Version (signed, as serialized).
    pub version: i32,
    /// Previous block hash, internal order.
    pub prev_blockhash: [u8; 32],
    /// Merkle root, internal order (header bytes 36..68; the message an
    /// OpenTimestamps Bitcoin attestation attests).
    pub merkle_root: [u8; 32],
    /// Block time, Unix seconds (as the miner set it, within about two hours
    /// of the network's time).
    pub time: u32,
    /// The target in compact form (nBits), e.g. `0x1d00ffff`.
    pub bits: u32,
    /// The value miners vary to meet the target.
    pub nonce: u32,
}

impl BlockHeader {
    /// Parses exactly 80 bytes.
    ///
    /// ```
    /// # let genesis_hex = "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c";
    /// use kwh_btc_iot_core::encoding::bitcoin::{decode_hex, BlockHeader};
    /// let bytes = decode_hex(genesis_hex).unwrap();
    /// assert_eq!(BlockHeader::parse(&bytes).unwrap().to_bytes(), bytes[..]);
    /// assert_eq!(BlockHeader::parse(&bytes[..79]).unwrap_err().code, "bad_length");
    /// ```
    pub fn parse(b: &[u8]) -> Result<BlockHeader> {
        let b: &[u8; 80] = b.try_into().map_err(|_| {
            DecodeError::new(
                "bad_length",
                format!("a block header is 80 bytes, got {}", b.len()),
            )
        })?;
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let mut prev = [0u8; 32];
        prev.copy_from_slice(&b[4..36]);
        let mut root = [0u8; 32];
        root.copy_from_slice(&b[36..68]);
        Ok(BlockHeader {
            version: u32_at(0) as i32,
            prev_blockhash: prev,
            merkle_root: root,
            time: u32_at(68),
            bits: u32_at(72),
            nonce: u32_at(76),
        })
    }

    /// Parses 160 hex characters (`getblockheader <hash> false`).
    ///
    /// ```
    /// # let genesis_hex = "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c";
    /// use kwh_btc_iot_core::encoding::bitcoin::BlockHeader;
    /// assert_eq!(BlockHeader::from_hex(genesis_hex).unwrap().time, 1231006505);
    /// assert!(BlockHeader::from_hex(&genesis_hex[..158]).is_err());
    /// ```
    pub fn from_hex(s: &str) -> Result<BlockHeader> {
        if s.len() != 160 {
            return Err(DecodeError::new(
                "bad_length",
                format!("a block header is 160 hex characters, got {}", s.len()),
            ));
        }
        BlockHeader::parse(&decode_hex(s)?)
    }

    /// The 80 serialized bytes.
    ///
    /// ```
    /// # let genesis_hex = "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c";
    /// use kwh_btc_iot_core::encoding::{bitcoin::BlockHeader, hex};
    /// assert_eq!(hex::encode(&BlockHeader::from_hex(genesis_hex).unwrap().to_bytes()), genesis_hex);
    /// ```
    pub fn to_bytes(&self) -> [u8; 80] {
        let mut b = [0u8; 80];
        b[..4].copy_from_slice(&self.version.to_le_bytes());
        b[4..36].copy_from_slice(&self.prev_blockhash);
        b[36..68].copy_from_slice(&self.merkle_root);
        b[68..72].copy_from_slice(&self.time.to_le_bytes());
        b[72..76].copy_from_slice(&self.bits.to_le_bytes());
        b[76..].copy_from_slice(&self.nonce.to_le_bytes());
        b
    }

    /// The block hash, internal order (SHA-256d of the 80 bytes).
    ///
    /// ```
    /// # let genesis_hex = "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c";
    /// use kwh_btc_iot_core::encoding::bitcoin::{sha256d, BlockHeader};
    /// let h = BlockHeader::from_hex(genesis_hex).unwrap();
    /// assert_eq!(h.hash(), sha256d(&h.to_bytes()));
    /// ```
    pub fn hash(&self) -> [u8; 32] {
        sha256d(&self.to_bytes())
    }

    /// The block hash in display order (byte-reversed hex), as explorers and
    /// `getblockhash` show it.
    ///
    /// ```
    /// # let genesis_hex = "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c";
    /// let h = kwh_btc_iot_core::encoding::bitcoin::BlockHeader::from_hex(genesis_hex).unwrap();
    /// assert_eq!(h.block_hash_display(), "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f");
    /// ```
    pub fn block_hash_display(&self) -> String {
        display_hex(&self.hash())
    }

    /// The target this header claims (from nBits), big-endian.
    ///
    /// ```
    /// # let genesis_hex = "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c";
    /// use kwh_btc_iot_core::encoding::bitcoin::{target_from_bits, BlockHeader};
    /// let h = BlockHeader::from_hex(genesis_hex).unwrap();
    /// assert_eq!(h.target().unwrap(), target_from_bits(0x1d00ffff).unwrap());
    /// ```
    pub fn target(&self) -> Result<[u8; 32]> {
        target_from_bits(self.bits)
    }

    /// Checks proof of work: a valid nBits, a target no easier than the
    /// network's limit, and a hash (as a little-endian number) at or below
    /// the target. Returns the target.
    ///
    /// ```
    /// # let genesis_hex = "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c";
    /// use kwh_btc_iot_core::encoding::bitcoin::{BlockHeader, Network};
    /// let mut h = BlockHeader::from_hex(genesis_hex).unwrap();
    /// assert!(h.check_pow(Network::Mainnet).is_ok());
    /// h.nonce += 1;
    /// assert_eq!(h.check_pow(Network::Mainnet).unwrap_err().code, "insufficient_pow");
    /// ```
    pub fn check_pow(&self, network: Network) -> Result<[u8; 32]> {
        let target = self.target()?;
        if target > network.pow_limit() {
            return Err(DecodeError::new(
                "target_above_limit",
                format!(
                    "nBits {:08x} is easier than the {network} proof-of-work limit",
                    self.bits
                ),
            ));
        }
        let mut h = self.hash();
        h.reverse(); // big-endian number
        if h > target {
            return Err(DecodeError::new(
                "insufficient_pow",
                format!(
                    "block hash {} is above the target of nBits {:08x}",
                    hex::encode(&h),
                    self.bits
                ),
            ));
        }
        Ok(target)
    }

    /// Searches the nonce, from the current one and wrapping around, until
    /// the header meets its own target under `network` ([`check_pow`]
    /// passes); for regtest blocks and tests (a real target takes far too
    /// long). `false`, with the nonce back where it started, when nBits is
    /// invalid or easier than the network's limit, or when none of the
    /// 2^32 nonces meets the target.
    ///
    /// [`check_pow`]: BlockHeader::check_pow
    ///
    /// ```
    /// use kwh_btc_iot_core::encoding::bitcoin::{BlockHeader, Network};
    /// let mut h = BlockHeader { version: 0x2000_0000, prev_blockhash: [0x11; 32], merkle_root: [0x42; 32],
    ///     time: 1_765_000_000, bits: 0x207f_ffff, nonce: 0 };
    /// assert!(h.mine(Network::Regtest));
    /// assert!(h.check_pow(Network::Regtest).is_ok());
    /// assert!(!h.mine(Network::Mainnet)); // regtest nBits are easier than mainnet allows
    /// ```
    pub fn mine(&mut self, network: Network) -> bool {
        let target = match self.target() {
            Ok(t) if t <= network.pow_limit() => t,
            _ => return false,
        };
        let mut bytes = self.to_bytes();
        let start = self.nonce;
        let mut nonce = start;
        loop {
            bytes[76..].copy_from_slice(&nonce.to_le_bytes());
            let mut h = sha256d(&bytes);
            h.reverse(); // big-endian number
            if h <= target {
                self.nonce = nonce;
                return true;
            }
            nonce = nonce.wrapping_add(1);
            if nonce == start {
                return false;
            }
        }
    }
}

/// A transaction input.
///
/// ```
/// # // The genesis block's coinbase transaction.
/// # let genesis_tx_hex = concat!("01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff4d",
/// #     "04ffff001d0104455468652054696d65732030332f4a616e2f32303039204368616e63656c6c6f72206f6e206272696e6b206f66207365636f6e64206261696c6f757420666f722062616e6b73",
/// #     "ffffffff0100f2052a01000000434104678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f35504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5fac00000000");
/// use kwh_btc_iot_core::encoding::bitcoin::Transaction;
/// let coinbase = &Transaction::from_hex(genesis_tx_hex).unwrap().inputs[0];
/// assert_eq!((coinbase.prev_txid, coinbase.prev_vout), ([0; 32], 0xffff_ffff));
/// assert_eq!(coinbase.script_sig.len(), 77);
/// assert!(coinbase.witness.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxIn {
    /// Spent txid, internal order.
    pub prev_txid: [u8; 32],
    /// Index of the spent output in that transaction (`0xffffffff` for a
    /// coinbase).
    pub prev_vout: u32,
    /// The unlocking script (scriptSig); empty for segwit spends.
    pub script_sig: Vec<u8>,
    /// nSequence (relative lock time and RBF signalling).
    pub sequence: u32,
    /// Witness stack (empty without witness).
    pub witness: Vec<Vec<u8>>,
}

/// A transaction output.
///
/// ```
/// # // The genesis block's coinbase transaction.
/// # let genesis_tx_hex = concat!("01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff4d",
/// #     "04ffff001d0104455468652054696d65732030332f4a616e2f32303039204368616e63656c6c6f72206f6e206272696e6b206f66207365636f6e64206261696c6f757420666f722062616e6b73",
/// #     "ffffffff0100f2052a01000000434104678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f35504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5fac00000000");
/// use kwh_btc_iot_core::encoding::bitcoin::Transaction;
/// let out = &Transaction::from_hex(genesis_tx_hex).unwrap().outputs[0];
/// assert_eq!(out.value, 50 * 100_000_000);
/// assert_eq!(out.script_type().as_str(), "p2pk");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxOut {
    /// Amount in satoshis.
    pub value: u64,
    /// The locking script (scriptPubKey); an anchor's is `OP_RETURN <hash>`.
    pub script_pubkey: Vec<u8>,
}

/// The standard shapes of an output script.
///
/// ```
/// use kwh_btc_iot_core::{build::anchor::op_return_script, encoding::bitcoin::{script_type, ScriptType}, hash::Hash};
/// assert_eq!(script_type(&op_return_script(&Hash([7; 32]))), ScriptType::OpReturn);
/// let p2wpkh = [&[0x00, 0x14][..], &[0xab; 20]].concat();
/// assert_eq!(script_type(&p2wpkh), ScriptType::P2wpkh);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptType {
    /// `OP_RETURN ...` (provably unspendable; carries data).
    OpReturn,
    /// Pay to public key hash.
    P2pkh,
    /// Pay to script hash.
    P2sh,
    /// Pay to witness public key hash (segwit v0).
    P2wpkh,
    /// Pay to witness script hash (segwit v0).
    P2wsh,
    /// Pay to taproot (segwit v1).
    P2tr,
    /// Pay to public key.
    P2pk,
    /// Another witness program version.
    WitnessUnknown,
    /// Anything else.
    NonStandard,
}

impl ScriptType {
    /// The lowercase name (`p2wpkh`, `op_return`, ...), as results report it.
    ///
    /// ```
    /// use kwh_btc_iot_core::encoding::bitcoin::ScriptType;
    /// assert_eq!(ScriptType::WitnessUnknown.as_str(), "witness_unknown");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            ScriptType::OpReturn => "op_return",
            ScriptType::P2pkh => "p2pkh",
            ScriptType::P2sh => "p2sh",
            ScriptType::P2wpkh => "p2wpkh",
            ScriptType::P2wsh => "p2wsh",
            ScriptType::P2tr => "p2tr",
            ScriptType::P2pk => "p2pk",
            ScriptType::WitnessUnknown => "witness_unknown",
            ScriptType::NonStandard => "nonstandard",
        }
    }
}

impl TxOut {
    /// The shape of the output script.
    ///
    /// ```
    /// use kwh_btc_iot_core::encoding::bitcoin::Transaction;
    /// // Change (P2WPKH), then OP_RETURN <32 bytes>, as a wallet funds an anchor.
    /// let tx = Transaction::parse(&kwh_btc_iot_testkit::op_return_tx(&[7; 32])).unwrap();
    /// assert_eq!(tx.outputs[0].script_type().as_str(), "p2wpkh");
    /// assert_eq!(tx.outputs[1].script_type().as_str(), "op_return");
    /// ```
    pub fn script_type(&self) -> ScriptType {
        script_type(&self.script_pubkey)
    }

    /// For an `OP_RETURN` output whose remaining script is only data pushes,
    /// the pushed data, concatenated (Bitcoin Core's "nulldata"). `None` for
    /// other outputs.
    ///
    /// ```
    /// use kwh_btc_iot_core::encoding::bitcoin::Transaction;
    /// let tx = Transaction::parse(&kwh_btc_iot_testkit::op_return_tx(&[7; 32])).unwrap();
    /// assert_eq!(tx.outputs[1].op_return_data(), Some(vec![7; 32]));
    /// assert_eq!(tx.outputs[0].op_return_data(), None);
    /// ```
    pub fn op_return_data(&self) -> Option<Vec<u8>> {
        op_return_data(&self.script_pubkey)
    }
}

/// The shape of an output script.
///
/// ```
/// use kwh_btc_iot_core::encoding::bitcoin::{script_type, ScriptType};
/// let p2pkh = [&[0x76, 0xa9, 0x14][..], &[0; 20], &[0x88, 0xac]].concat();
/// assert_eq!(script_type(&p2pkh), ScriptType::P2pkh);
/// assert_eq!(script_type(&[0x51]), ScriptType::NonStandard);
/// ```
pub fn script_type(s: &[u8]) -> ScriptType {
    match s {
        [0x6a, ..] => ScriptType::OpReturn,
        [0x76, 0xa9, 0x14, .., 0x88, 0xac] if s.len() == 25 => ScriptType::P2pkh,
        [0xa9, 0x14, .., 0x87] if s.len() == 23 => ScriptType::P2sh,
        [0x00, 0x14, ..] if s.len() == 22 => ScriptType::P2wpkh,
        [0x00, 0x20, ..] if s.len() == 34 => ScriptType::P2wsh,
        [0x51, 0x20, ..] if s.len() == 34 => ScriptType::P2tr,
        [0x21, .., 0xac] if s.len() == 35 => ScriptType::P2pk,
        [0x41, .., 0xac] if s.len() == 67 => ScriptType::P2pk,
        [v, n, ..]
            if (*v == 0x00 || (0x51..=0x60).contains(v))
                && (2..=40).contains(n)
                && s.len() == 2 + *n as usize =>
        {
            ScriptType::WitnessUnknown
        }
        _ => ScriptType::NonStandard,
    }
}

/// The data pushed after `OP_RETURN`, concatenated; `None` unless the script
/// is `OP_RETURN` followed by push operations only.
///
/// ```
/// use kwh_btc_iot_core::encoding::bitcoin::op_return_data;
/// assert_eq!(op_return_data(&[0x6a, 0x02, 0xbe, 0xef, 0x01, 0x00]), Some(vec![0xbe, 0xef, 0x00]));
/// assert_eq!(op_return_data(&[0x6a, 0xac]), None); // OP_CHECKSIG is not a push
/// ```
pub fn op_return_data(s: &[u8]) -> Option<Vec<u8>> {
    let rest = s.strip_prefix(&[0x6a])?;
    let mut out = Vec::new();
    let mut i = 0usize;
    while i < rest.len() {
        let op = rest[i];
        i += 1;
        let n = match op {
            0x00 => 0,
            0x01..=0x4b => op as usize,
            0x4c => {
                let n = *rest.get(i)? as usize;
                i += 1;
                n
            }
            0x4d => {
                let b = rest.get(i..i + 2)?;
                i += 2;
                u16::from_le_bytes([b[0], b[1]]) as usize
            }
            0x4e => {
                let b = rest.get(i..i + 4)?;
                i += 4;
                u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize
            }
            // OP_1NEGATE, OP_1..OP_16: push-only, no data bytes.
            0x4f | 0x51..=0x60 => continue,
            _ => return None,
        };
        let d = rest.get(i..i.checked_add(n)?)?;
        out.extend_from_slice(d);
        i += n;
    }
    Some(out)
}

/// A parsed transaction.
///
/// ```
/// # // The genesis block's coinbase transaction.
/// # let genesis_tx_hex = concat!("01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff4d",
/// #     "04ffff001d0104455468652054696d65732030332f4a616e2f32303039204368616e63656c6c6f72206f6e206272696e6b206f66207365636f6e64206261696c6f757420666f722062616e6b73",
/// #     "ffffffff0100f2052a01000000434104678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f35504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5fac00000000");
/// use kwh_btc_iot_core::encoding::bitcoin::Transaction;
/// let tx = Transaction::from_hex(genesis_tx_hex).unwrap();
/// assert_eq!((tx.version, tx.inputs.len(), tx.outputs.len(), tx.lock_time), (1, 1, 1, 0));
/// assert_eq!(tx.txid_display(), "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b");
/// assert_eq!((tx.has_witness, tx.size, tx.txid == tx.wtxid), (false, 204, true));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    /// nVersion (1 or 2 in practice; 2 enables relative lock times).
    pub version: i32,
    /// The inputs, in order (none in an unfunded template).
    pub inputs: Vec<TxIn>,
    /// The outputs, in order; `vout` is the index here.
    pub outputs: Vec<TxOut>,
    /// nLockTime: a height below 500 000 000, else a Unix time; 0 for none.
    pub lock_time: u32,
    /// Whether it was serialized with witness data (BIP 144).
    pub has_witness: bool,
    /// txid, internal order (SHA-256d of the serialization without witness).
    pub txid: [u8; 32],
    /// wtxid, internal order (SHA-256d of the full serialization).
    pub wtxid: [u8; 32],
    /// Size of the full serialization, in bytes.
    pub size: usize,
    /// Size of the serialization without witness, in bytes.
    pub base_size: usize,
}

impl Transaction {
    /// Parses exactly one transaction filling `b`.
    ///
    /// ```
    /// # // The genesis block's coinbase transaction.
    /// # let genesis_tx_hex = concat!("01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff4d",
    /// #     "04ffff001d0104455468652054696d65732030332f4a616e2f32303039204368616e63656c6c6f72206f6e206272696e6b206f66207365636f6e64206261696c6f757420666f722062616e6b73",
    /// #     "ffffffff0100f2052a01000000434104678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f35504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5fac00000000");
    /// use kwh_btc_iot_core::encoding::bitcoin::{decode_hex, Transaction};
    /// let mut bytes = decode_hex(genesis_tx_hex).unwrap();
    /// assert_eq!(Transaction::parse(&bytes).unwrap().base_size, bytes.len());
    /// bytes.push(0);
    /// assert_eq!(Transaction::parse(&bytes).unwrap_err().code, "trailing_data");
    /// ```
    pub fn parse(b: &[u8]) -> Result<Transaction> {
        let mut r = Reader::new(b);
        let tx = Transaction::read(&mut r)?;
        end(&r, "transaction")?;
        Ok(tx)
    }

    /// Parses hex (`getrawtransaction <txid>`).
    ///
    /// ```
    /// # // The genesis block's coinbase transaction.
    /// # let genesis_tx_hex = concat!("01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff4d",
    /// #     "04ffff001d0104455468652054696d65732030332f4a616e2f32303039204368616e63656c6c6f72206f6e206272696e6b206f66207365636f6e64206261696c6f757420666f722062616e6b73",
    /// #     "ffffffff0100f2052a01000000434104678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f35504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5fac00000000");
    /// use kwh_btc_iot_core::encoding::bitcoin::Transaction;
    /// assert_eq!(Transaction::from_hex(genesis_tx_hex).unwrap().outputs.len(), 1);
    /// ```
    pub fn from_hex(s: &str) -> Result<Transaction> {
        if s.len() > 2 * MAX_TX_BYTES {
            return Err(DecodeError::new(
                "too_large",
                format!("a transaction is at most {MAX_TX_BYTES} bytes"),
            ));
        }
        Transaction::parse(&decode_hex(s)?)
    }

    /// The txid in display order (byte-reversed hex), as explorers show it.
    ///
    /// ```
    /// # // The genesis block's coinbase transaction.
    /// # let genesis_tx_hex = concat!("01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff4d",
    /// #     "04ffff001d0104455468652054696d65732030332f4a616e2f32303039204368616e63656c6c6f72206f6e206272696e6b206f66207365636f6e64206261696c6f757420666f722062616e6b73",
    /// #     "ffffffff0100f2052a01000000434104678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f35504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5fac00000000");
    /// let tx = kwh_btc_iot_core::encoding::bitcoin::Transaction::from_hex(genesis_tx_hex).unwrap();
    /// assert_eq!(tx.txid_display(), "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b");
    /// ```
    pub fn txid_display(&self) -> String {
        display_hex(&self.txid)
    }

    /// Serializes a transaction: the BIP 144 form (marker, flag, witness
    /// stacks) when any input has a witness, the legacy form otherwise (also
    /// for no inputs, as Bitcoin Core's `createrawtransaction` writes a
    /// template). [`Transaction::parse`] reads it back once it has an input;
    /// an unfunded template (no inputs) is refused there with `no_inputs`.
    ///
    /// ```
    /// # // The genesis block's coinbase transaction.
    /// # let genesis_tx_hex = concat!("01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff4d",
    /// #     "04ffff001d0104455468652054696d65732030332f4a616e2f32303039204368616e63656c6c6f72206f6e206272696e6b206f66207365636f6e64206261696c6f757420666f722062616e6b73",
    /// #     "ffffffff0100f2052a01000000434104678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f35504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5fac00000000");
    /// use kwh_btc_iot_core::encoding::{bitcoin::{Transaction, decode_hex}};
    /// let tx = Transaction::from_hex(genesis_tx_hex).unwrap();
    /// let again = Transaction::serialize(tx.version, &tx.inputs, &tx.outputs, tx.lock_time);
    /// assert_eq!(again, decode_hex(genesis_tx_hex).unwrap());
    /// ```
    pub fn serialize(version: i32, inputs: &[TxIn], outputs: &[TxOut], lock_time: u32) -> Vec<u8> {
        let witness = inputs.iter().any(|i| !i.witness.is_empty());
        let mut o = Vec::with_capacity(
            10 + inputs
                .iter()
                .map(|i| 41 + i.script_sig.len())
                .sum::<usize>()
                + outputs
                    .iter()
                    .map(|t| 9 + t.script_pubkey.len())
                    .sum::<usize>(),
        );
        o.extend_from_slice(&version.to_le_bytes());
        if witness {
            o.extend_from_slice(&[0, 1]);
        }
        let write_bytes = |o: &mut Vec<u8>, b: &[u8]| {
            write_compact_size(o, b.len() as u64);
            o.extend_from_slice(b);
        };
        write_compact_size(&mut o, inputs.len() as u64);
        for i in inputs {
            o.extend_from_slice(&i.prev_txid);
            o.extend_from_slice(&i.prev_vout.to_le_bytes());
            write_bytes(&mut o, &i.script_sig);
            o.extend_from_slice(&i.sequence.to_le_bytes());
        }
        write_compact_size(&mut o, outputs.len() as u64);
        for t in outputs {
            o.extend_from_slice(&t.value.to_le_bytes());
            write_bytes(&mut o, &t.script_pubkey);
        }
        if witness {
            for i in inputs {
                write_compact_size(&mut o, i.witness.len() as u64);
                for w in &i.witness {
                    write_bytes(&mut o, w);
                }
            }
        }
        o.extend_from_slice(&lock_time.to_le_bytes());
        o
    }

    fn read(r: &mut Reader<'_>) -> Result<Transaction> {
        let start = r.offset();
        let version = r.u32_le("version")? as i32;
        let after_version = r.offset();
        // BIP 144: an empty input list followed by a non-zero flag byte means
        // the witness serialization (Bitcoin Core reads it this way).
        let mut has_witness = false;
        let mut inputs = read_inputs(r)?;
        let body_start;
        if inputs.is_empty() {
            let flag = r.u8("segwit flag")?;
            if flag != 0 {
                if flag != 1 {
                    return Err(DecodeError::new(
                        "bad_witness",
                        format!("unknown transaction flag 0x{flag:02x}"),
                    ));
                }
                has_witness = true;
                body_start = r.offset();
                inputs = read_inputs(r)?;
            } else {
                body_start = after_version;
            }
        } else {
            body_start = after_version;
        }
        // Consensus rules (bad-txns-vin-empty / vout-empty): such a
        // transaction can never be in a block.
        if inputs.is_empty() {
            return Err(DecodeError::new(
                "no_inputs",
                "a transaction has at least one input",
            ));
        }
        let outputs = read_outputs(r)?;
        if outputs.is_empty() {
            return Err(DecodeError::new(
                "no_outputs",
                "a transaction has at least one output",
            ));
        }
        let body_end = r.offset();
        if has_witness {
            let mut any = false;
            for input in inputs.iter_mut() {
                let n = r.compact_size("witness item count")?;
                r.check_count(n, 1, "witness items")?;
                let mut stack = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    let len = r.compact_size("witness item length")?;
                    stack.push(r.bytes(len, "witness item")?.to_vec());
                }
                any |= !stack.is_empty();
                input.witness = stack;
            }
            if !any {
                return Err(DecodeError::new(
                    "bad_witness",
                    "transaction has the witness flag but no witness data (superfluous witness record)",
                ));
            }
        }
        let lock_start = r.offset();
        let lock_time = r.u32_le("lock time")?;
        let end = r.offset();
        let size = end - start;
        if size > MAX_TX_BYTES {
            return Err(DecodeError::new(
                "too_large",
                format!("transaction is larger than {MAX_TX_BYTES} bytes"),
            ));
        }
        let full = &r.input()[start..end];
        let wtxid = sha256d(full);
        let (txid, base_size) = if has_witness {
            let mut h = Sha256::new();
            h.update(&r.input()[start..after_version]);
            h.update(&r.input()[body_start..body_end]);
            h.update(&r.input()[lock_start..end]);
            let base = (after_version - start) + (body_end - body_start) + (end - lock_start);
            (Sha256::digest(h.finalize()).into(), base)
        } else {
            (wtxid, size)
        };
        Ok(Transaction {
            version,
            inputs,
            outputs,
            lock_time,
            has_witness,
            txid,
            wtxid,
            size,
            base_size,
        })
    }
}

fn read_inputs(r: &mut Reader<'_>) -> Result<Vec<TxIn>> {
    let n = r.compact_size("input count")?;
    r.check_count(n, 41, "inputs")?;
    let mut v = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let mut prev = [0u8; 32];
        prev.copy_from_slice(r.bytes(32, "input outpoint")?);
        let prev_vout = r.u32_le("input outpoint index")?;
        let len = r.compact_size("scriptSig length")?;
        let script_sig = r.bytes(len, "scriptSig")?.to_vec();
        let sequence = r.u32_le("sequence")?;
        v.push(TxIn {
            prev_txid: prev,
            prev_vout,
            script_sig,
            sequence,
            witness: Vec::new(),
        });
    }
    Ok(v)
}

fn read_outputs(r: &mut Reader<'_>) -> Result<Vec<TxOut>> {
    let n = r.compact_size("output count")?;
    r.check_count(n, 9, "outputs")?;
    let mut v = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let value = r.u64_le("output value")?;
        let len = r.compact_size("scriptPubKey length")?;
        let script_pubkey = r.bytes(len, "scriptPubKey")?.to_vec();
        v.push(TxOut {
            value,
            script_pubkey,
        });
    }
    Ok(v)
}

/// A whole block: header and transactions.
///
/// ```
/// # let genesis_hex = "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c";
/// # // The genesis block's coinbase transaction.
/// # let genesis_tx_hex = concat!("01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff4d",
/// #     "04ffff001d0104455468652054696d65732030332f4a616e2f32303039204368616e63656c6c6f72206f6e206272696e6b206f66207365636f6e64206261696c6f757420666f722062616e6b73",
/// #     "ffffffff0100f2052a01000000434104678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f35504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5fac00000000");
/// # let block_hex = format!("{genesis_hex}01{genesis_tx_hex}");
/// use kwh_btc_iot_core::encoding::bitcoin::Block;
/// let block = Block::from_hex(&block_hex).unwrap();
/// assert_eq!(block.transactions.len(), 1);
/// assert!(block.check_merkle_root().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The block's header.
    pub header: BlockHeader,
    /// The transactions, coinbase first.
    pub transactions: Vec<Transaction>,
}

impl Block {
    /// Parses a serialized block (header, compact size count, transactions).
    ///
    /// ```
    /// # let genesis_hex = "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c";
    /// # // The genesis block's coinbase transaction.
    /// # let genesis_tx_hex = concat!("01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff4d",
    /// #     "04ffff001d0104455468652054696d65732030332f4a616e2f32303039204368616e63656c6c6f72206f6e206272696e6b206f66207365636f6e64206261696c6f757420666f722062616e6b73",
    /// #     "ffffffff0100f2052a01000000434104678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f35504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5fac00000000");
    /// # let block_hex = format!("{genesis_hex}01{genesis_tx_hex}");
    /// use kwh_btc_iot_core::encoding::bitcoin::{decode_hex, Block};
    /// let bytes = decode_hex(&block_hex).unwrap();
    /// assert_eq!(bytes.len(), 285);
    /// assert_eq!(Block::parse(&bytes).unwrap().header.time, 1231006505);
    /// assert!(Block::parse(&bytes[..284]).is_err());
    /// ```
    pub fn parse(b: &[u8]) -> Result<Block> {
        if b.len() > MAX_BLOCK_BYTES {
            return Err(DecodeError::new(
                "too_large",
                format!("a block is at most {MAX_BLOCK_BYTES} bytes"),
            ));
        }
        let mut r = Reader::new(b);
        let header = BlockHeader::parse(r.bytes(80, "block header")?)?;
        let n = r.compact_size("transaction count")?;
        r.check_count(n, 60, "transactions")?;
        let mut transactions = Vec::with_capacity(n as usize);
        for _ in 0..n {
            transactions.push(Transaction::read(&mut r)?);
        }
        end(&r, "block")?;
        Ok(Block {
            header,
            transactions,
        })
    }

    /// Parses hex (`getblock <hash> 0`).
    ///
    /// ```
    /// # let genesis_hex = "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c";
    /// # // The genesis block's coinbase transaction.
    /// # let genesis_tx_hex = concat!("01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff4d",
    /// #     "04ffff001d0104455468652054696d65732030332f4a616e2f32303039204368616e63656c6c6f72206f6e206272696e6b206f66207365636f6e64206261696c6f757420666f722062616e6b73",
    /// #     "ffffffff0100f2052a01000000434104678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f35504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5fac00000000");
    /// # let block_hex = format!("{genesis_hex}01{genesis_tx_hex}");
    /// let block = kwh_btc_iot_core::encoding::bitcoin::Block::from_hex(&block_hex).unwrap();
    /// assert_eq!(block.header.block_hash_display(), "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f");
    /// ```
    pub fn from_hex(s: &str) -> Result<Block> {
        if s.len() > 2 * MAX_BLOCK_BYTES {
            return Err(DecodeError::new(
                "too_large",
                format!("a block is at most {MAX_BLOCK_BYTES} bytes"),
            ));
        }
        Block::parse(&decode_hex(s)?)
    }

    /// The txids, internal order.
    ///
    /// ```
    /// # let genesis_hex = "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c";
    /// # // The genesis block's coinbase transaction.
    /// # let genesis_tx_hex = concat!("01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff4d",
    /// #     "04ffff001d0104455468652054696d65732030332f4a616e2f32303039204368616e63656c6c6f72206f6e206272696e6b206f66207365636f6e64206261696c6f757420666f722062616e6b73",
    /// #     "ffffffff0100f2052a01000000434104678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f35504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5fac00000000");
    /// # let block_hex = format!("{genesis_hex}01{genesis_tx_hex}");
    /// let block = kwh_btc_iot_core::encoding::bitcoin::Block::from_hex(&block_hex).unwrap();
    /// assert_eq!(block.txids(), [block.header.merkle_root]); // one transaction: root = txid
    /// ```
    pub fn txids(&self) -> Vec<[u8; 32]> {
        self.transactions.iter().map(|t| t.txid).collect()
    }

    /// Recomputes the merkle root from the txids; refuses an empty block and
    /// a mutated tree (CVE-2012-2459: two equal sibling hashes).
    ///
    /// ```
    /// # let genesis_hex = "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c";
    /// # // The genesis block's coinbase transaction.
    /// # let genesis_tx_hex = concat!("01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff4d",
    /// #     "04ffff001d0104455468652054696d65732030332f4a616e2f32303039204368616e63656c6c6f72206f6e206272696e6b206f66207365636f6e64206261696c6f757420666f722062616e6b73",
    /// #     "ffffffff0100f2052a01000000434104678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f35504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5fac00000000");
    /// # let block_hex = format!("{genesis_hex}01{genesis_tx_hex}");
    /// use kwh_btc_iot_core::encoding::bitcoin::Block;
    /// let mut block = Block::from_hex(&block_hex).unwrap();
    /// assert_eq!(block.compute_merkle_root().unwrap(), block.header.merkle_root);
    /// block.transactions.push(block.transactions[0].clone()); // CVE-2012-2459 duplicate
    /// assert!(block.compute_merkle_root().is_err());
    /// ```
    pub fn compute_merkle_root(&self) -> Result<[u8; 32]> {
        let (root, mutated) = merkle_root(&self.txids()).ok_or_else(|| {
            DecodeError::new("empty_block", "a block has at least one transaction")
        })?;
        if mutated {
            return Err(DecodeError::new(
                "mutated_merkle_tree",
                "the transaction list has two equal sibling hashes (CVE-2012-2459)",
            ));
        }
        Ok(root)
    }

    /// Checks that the header's merkle root is the one recomputed from the transactions.
    ///
    /// ```
    /// # let genesis_hex = "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c";
    /// # // The genesis block's coinbase transaction.
    /// # let genesis_tx_hex = concat!("01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff4d",
    /// #     "04ffff001d0104455468652054696d65732030332f4a616e2f32303039204368616e63656c6c6f72206f6e206272696e6b206f66207365636f6e64206261696c6f757420666f722062616e6b73",
    /// #     "ffffffff0100f2052a01000000434104678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f35504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5fac00000000");
    /// # let block_hex = format!("{genesis_hex}01{genesis_tx_hex}");
    /// use kwh_btc_iot_core::encoding::bitcoin::Block;
    /// let mut block = Block::from_hex(&block_hex).unwrap();
    /// assert!(block.check_merkle_root().is_ok());
    /// block.header.merkle_root[0] ^= 1;
    /// assert!(block.check_merkle_root().is_err());
    /// ```
    pub fn check_merkle_root(&self) -> Result<()> {
        let root = self.compute_merkle_root()?;
        if root != self.header.merkle_root {
            return Err(DecodeError::new(
                "bad_merkle_root",
                format!(
                    "the transactions hash to merkle root {}, the header says {}",
                    display_hex(&root),
                    display_hex(&self.header.merkle_root)
                ),
            ));
        }
        Ok(())
    }

    /// The BIP 34 height: the first push of the coinbase's scriptSig read as
    /// a number. Meaningful for blocks of version >= 2 only; the caller
    /// checks the version.
    ///
    /// ```
    /// # let genesis_hex = "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c";
    /// # // The genesis block's coinbase transaction.
    /// # let genesis_tx_hex = concat!("01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff4d",
    /// #     "04ffff001d0104455468652054696d65732030332f4a616e2f32303039204368616e63656c6c6f72206f6e206272696e6b206f66207365636f6e64206261696c6f757420666f722062616e6b73",
    /// #     "ffffffff0100f2052a01000000434104678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f35504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5fac00000000");
    /// # let block_hex = format!("{genesis_hex}01{genesis_tx_hex}");
    /// let block = kwh_btc_iot_core::encoding::bitcoin::Block::from_hex(&block_hex).unwrap();
    /// // The genesis block predates BIP 34: its first push is nBits, not a height.
    /// assert_eq!(block.header.version, 1);
    /// assert_eq!(block.bip34_height(), Some(0x1d00ffff));
    /// ```
    pub fn bip34_height(&self) -> Option<u64> {
        let cb = self.transactions.first()?.inputs.first()?;
        let s = &cb.script_sig;
        let n = *s.first()? as usize;
        if !(1..=8).contains(&n) {
            return None;
        }
        let b = s.get(1..1 + n)?;
        let mut v: u64 = 0;
        for (i, x) in b.iter().enumerate() {
            v |= u64::from(*x) << (8 * i);
        }
        Some(v)
    }
}

/// Refuses bytes left after a structure (`trailing_data`).
fn end(r: &Reader<'_>, what: &str) -> Result<()> {
    match r.end_or_trailing() {
        None => Ok(()),
        Some(n) => Err(DecodeError::new(
            "trailing_data",
            format!("{n} bytes after the end of the {what}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_targets() {
        let t = target_from_bits(0x1d00ffff).unwrap();
        assert_eq!(hex::encode(&t), format!("00000000ffff{}", "0".repeat(52)));
        let t = target_from_bits(0x181686f5).unwrap();
        assert_eq!(
            hex::encode(&t),
            "00000000000000001686f5000000000000000000000000000000000000000000"
        );
        let t = target_from_bits(0x207fffff).unwrap();
        assert_eq!(hex::encode(&t), format!("7fffff{}", "0".repeat(58)));
        assert_eq!(target_from_bits(0x01003456).unwrap_err().code, "bad_target"); // zero
        assert_eq!(
            hex::encode(&target_from_bits(0x01123456).unwrap()),
            format!("{}12", "0".repeat(62))
        );
        assert_eq!(
            hex::encode(&target_from_bits(0x02123456).unwrap()),
            format!("{}1234", "0".repeat(60))
        );
        assert_eq!(target_from_bits(0x04923456).unwrap_err().code, "bad_target"); // negative
        assert_eq!(target_from_bits(0xff123456).unwrap_err().code, "bad_target"); // overflow
        assert_eq!(target_from_bits(0x00000000).unwrap_err().code, "bad_target");
        // size 32 with a 3-byte mantissa: first byte lands at index 0
        let t = target_from_bits(0x20123456).unwrap();
        assert_eq!(hex::encode(&t), format!("123456{}", "0".repeat(58)));
        let t = target_from_bits(0x21000012).unwrap();
        assert_eq!(hex::encode(&t), format!("0012{}", "0".repeat(60)));
        let t = target_from_bits(0x22000012).unwrap();
        assert_eq!(hex::encode(&t), format!("12{}", "0".repeat(62)));
        assert_eq!(target_from_bits(0x23000012).unwrap_err().code, "bad_target");
        assert_eq!(
            hex::encode(&target_from_bits(0x21001234).unwrap()),
            format!("1234{}", "0".repeat(60))
        );
        assert_eq!(target_from_bits(0x22001234).unwrap_err().code, "bad_target");
        assert_eq!(target_from_bits(0x21123456).unwrap_err().code, "bad_target");
    }

    #[test]
    fn hex_decoding() {
        assert_eq!(hex::decode(b"00fFaB19"), Some(vec![0, 0xff, 0xab, 0x19]));
        assert_eq!(hex::decode(b""), Some(vec![]));
        for bad in [&b"0"[..], b"0g", b"g0", b"  ", "é0".as_bytes(), b"0x"] {
            assert_eq!(hex::decode(bad), None, "{bad:?}");
        }
        assert_eq!(decode_hex("abc").unwrap_err().code, "bad_hex");
    }

    fn regtest_header(nonce: u32) -> BlockHeader {
        BlockHeader {
            version: 0x2000_0000,
            prev_blockhash: [0x11; 32],
            merkle_root: [0x22; 32],
            time: 1_765_000_000,
            bits: 0x207f_ffff,
            nonce,
        }
    }

    #[test]
    fn mining_finds_the_first_nonce_that_meets_the_target() {
        let mut h = regtest_header(0);
        assert!(h.mine(Network::Regtest));
        h.check_pow(Network::Regtest).unwrap();
        // The first one: every nonce before it fails.
        for n in 0..h.nonce {
            assert!(regtest_header(n).check_pow(Network::Regtest).is_err());
        }
        // Mining a header that already meets its target keeps it.
        let before = h;
        assert!(h.mine(Network::Regtest));
        assert_eq!(h, before);
        // It starts from the current nonce.
        let mut later = regtest_header(h.nonce + 1);
        assert!(later.mine(Network::Regtest));
        assert!(later.nonce > h.nonce);
        later.check_pow(Network::Regtest).unwrap();
    }

    #[test]
    fn mining_refuses_bad_and_too_easy_targets() {
        // The regtest target is easier than mainnet's limit.
        let mut h = regtest_header(5);
        assert!(!h.mine(Network::Mainnet));
        assert_eq!(h.nonce, 5);
        for bits in [0, 0x0400_0000, 0x0480_0001, 0xff12_3456] {
            let mut h = BlockHeader {
                bits,
                ..regtest_header(5)
            };
            assert!(!h.mine(Network::Regtest), "{bits:08x}");
            assert_eq!(h.nonce, 5);
        }
    }

    fn p2wpkh(b: u8) -> Vec<u8> {
        let mut s = vec![0x00, 0x14];
        s.extend_from_slice(&[b; 20]);
        s
    }

    #[test]
    fn serialization_of_known_transactions() {
        let input = TxIn {
            prev_txid: [0x42; 32],
            prev_vout: 0,
            script_sig: vec![],
            sequence: 0xffff_ffff,
            witness: vec![],
        };
        let outputs = [
            TxOut {
                value: 50_000,
                script_pubkey: p2wpkh(0x33),
            },
            TxOut {
                value: 0,
                script_pubkey: vec![0x6a, 0x01, 0x99],
            },
        ];
        let legacy = Transaction::serialize(2, std::slice::from_ref(&input), &outputs, 0);
        assert_eq!(
            hex::encode(&legacy),
            format!(
                "0200000001{}0000000000ffffffff02{}160014{}{}036a019900000000",
                "42".repeat(32),
                "50c3000000000000",
                "33".repeat(20),
                "0000000000000000"
            )
        );
        let t = Transaction::parse(&legacy).unwrap();
        assert!(!t.has_witness);
        assert_eq!(t.txid, sha256d(&legacy));
        let signed = TxIn {
            witness: vec![vec![0x30; 71], vec![0x02; 33]],
            ..input
        };
        let full = Transaction::serialize(2, &[signed], &outputs, 0);
        assert_eq!(&full[4..6], &[0, 1]);
        let t = Transaction::parse(&full).unwrap();
        assert!(t.has_witness);
        assert_eq!(t.txid, sha256d(&legacy), "the witness is not in the txid");
        assert_eq!(t.wtxid, sha256d(&full));
        assert_eq!((t.size, t.base_size), (full.len(), legacy.len()));
        // A template without inputs: the legacy form, as createrawtransaction.
        let template = Transaction::serialize(2, &[], &outputs[1..], 0);
        assert_eq!(
            hex::encode(&template),
            "0200000000010000000000000000036a019900000000"
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn input() -> impl Strategy<Value = TxIn> {
            (
                any::<[u8; 32]>(),
                any::<u32>(),
                prop::collection::vec(any::<u8>(), 0..80),
                any::<u32>(),
                prop::collection::vec(prop::collection::vec(any::<u8>(), 0..80), 0..4),
            )
                .prop_map(|(prev_txid, prev_vout, script_sig, sequence, witness)| {
                    TxIn {
                        prev_txid,
                        prev_vout,
                        script_sig,
                        sequence,
                        witness,
                    }
                })
        }

        fn output() -> impl Strategy<Value = TxOut> {
            (any::<u64>(), prop::collection::vec(any::<u8>(), 0..300)).prop_map(
                |(value, script_pubkey)| TxOut {
                    value,
                    script_pubkey,
                },
            )
        }

        proptest! {
            #[test]
            fn serialized_transactions_parse_back_to_the_same_fields_and_txid(
                version in any::<i32>(),
                inputs in prop::collection::vec(input(), 1..5),
                outputs in prop::collection::vec(output(), 1..5),
                lock_time in any::<u32>(),
            ) {
                let bytes = Transaction::serialize(version, &inputs, &outputs, lock_time);
                let t = Transaction::parse(&bytes).unwrap();
                prop_assert_eq!(t.version, version);
                prop_assert_eq!(&t.inputs, &inputs);
                prop_assert_eq!(&t.outputs, &outputs);
                prop_assert_eq!(t.lock_time, lock_time);
                let has_witness = inputs.iter().any(|i| !i.witness.is_empty());
                prop_assert_eq!(t.has_witness, has_witness);
                let stripped: Vec<TxIn> = inputs
                    .iter()
                    .map(|i| TxIn { witness: vec![], ..i.clone() })
                    .collect();
                let legacy = Transaction::serialize(version, &stripped, &outputs, lock_time);
                prop_assert_eq!(t.txid, sha256d(&legacy));
                prop_assert_eq!(t.wtxid, sha256d(&bytes));
                prop_assert_eq!((t.size, t.base_size), (bytes.len(), legacy.len()));
                prop_assert_eq!(has_witness, bytes != legacy);
            }
        }
    }

    #[test]
    fn op_return_pushes() {
        assert_eq!(op_return_data(&[0x6a]), Some(vec![]));
        assert_eq!(op_return_data(&[0x6a, 0x02, 1, 2]), Some(vec![1, 2]));
        assert_eq!(op_return_data(&[0x6a, 0x4c, 0x01, 9]), Some(vec![9]));
        assert_eq!(op_return_data(&[0x6a, 0x02, 1]), None);
        assert_eq!(op_return_data(&[0x6a, 0xac]), None);
        assert_eq!(op_return_data(&[0x51]), None);
    }
}
