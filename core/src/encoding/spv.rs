//! Simplified payment verification: Bitcoin's transaction merkle tree, merkle
//! branches, and the `merkleblock` message (what `gettxoutproof` returns: a
//! header and a partial merkle tree), with the checks that defeat the
//! ambiguities of Bitcoin's tree.
//!
//! Bitcoin's tree duplicates the last node of an odd level, so two different
//! transaction lists can give the same root (CVE-2012-2459); a partial tree
//! whose two children are equal is refused, as Bitcoin Core does. An inner
//! node is the SHA-256d of 64 bytes, so a 64-byte "transaction" could pose as
//! an inner node or the other way round; [`check_tx_not_64_bytes`] refuses
//! such transactions, and a `merkleblock` fixes the tree's height from the
//! block's transaction count, so a proof cannot stop early or go one level
//! deeper than the tree.
//!
//! ```
//! use kwh_btc_iot_core::encoding::{bitcoin::merkle_root, spv::PartialMerkleTree};
//! let txids: Vec<[u8; 32]> = (0u8..5).map(|i| [i; 32]).collect();
//! let (root, mutated) = merkle_root(&txids).unwrap();
//! assert!(!mutated);
//! let pmt = PartialMerkleTree::from_txids(&txids, &[false, false, false, true, false]);
//! let (r, matches) = pmt.extract_matches().unwrap();
//! assert_eq!(r, root);
//! assert_eq!(matches, vec![(3, [3u8; 32])]);
//! ```

use super::binary::{write_compact_size, Reader};
use super::bitcoin::{sha256d_pair, BlockHeader, Transaction, MAX_BLOCK_TXS};
use super::DecodeError;

type Result<T> = std::result::Result<T, DecodeError>;

/// A merkle root and the matched (index in block, txid in internal order)
/// pairs of a partial tree.
///
/// ```
/// # use kwh_btc_iot_core::encoding::spv::MerkleBlock;
/// # let f = kwh_btc_iot_testkit::BitcoinAnchor::new(&[0x42; 32], 5, 101); // tx 2 of 5, regtest
///
/// use kwh_btc_iot_core::encoding::spv::Matches;
/// let (root, matched): Matches = f.merkleblock.tree.extract_matches().unwrap();
/// assert_eq!(root, f.header.merkle_root);
/// assert_eq!(matched, [(2, f.txid)]);
/// ```
pub type Matches = ([u8; 32], Vec<(u32, [u8; 32])>);

/// The merkle branch (bottom-up siblings) of the txid at `index`, as a block
/// explorer or Electrum server gives it. At an odd level's end the sibling is
/// the node itself.
///
/// ```
/// # use kwh_btc_iot_core::encoding::bitcoin::{display_hex, from_display_hex};
/// # // Block 100000: four transactions, merkle root f3e94742...
/// # let txids: Vec<[u8; 32]> = ["8c14f0db3df150123e6f3dbbf30f8b955a8249b62ac1d1ff16284aefa3d06d87",
/// #     "fff2525b8931402dd09222c50775608f75787bd2b87e56995a7bdd30f79702c4",
/// #     "6359f0868171b1d194cbee1af2f16ea598ae8fad666d9b012c8ed2b79a236ec4",
/// #     "e9a66845e05d5abc0ad04ec80f774a7e585c6e8db975962d069a522137b80c1d"]
/// #     .iter().map(|h| from_display_hex(h).unwrap()).collect();
/// # let root_hex = "f3e94742aca4b5ef85488dc37c06c3282295ffec960994b2c0d5ac2a25a95766";
/// use kwh_btc_iot_core::encoding::spv::{branch_root, merkle_branch};
/// let branch = merkle_branch(&txids, 2).unwrap();
/// assert_eq!(branch, [txids[3], kwh_btc_iot_core::encoding::bitcoin::sha256d_pair(&txids[0], &txids[1])]);
/// assert_eq!(display_hex(&branch_root(&txids[2], 2, &branch).unwrap()), root_hex);
/// ```
pub fn merkle_branch(txids: &[[u8; 32]], index: usize) -> Option<Vec<[u8; 32]>> {
    if index >= txids.len() {
        return None;
    }
    let mut level = txids.to_vec();
    let mut pos = index;
    let mut branch = Vec::new();
    while level.len() > 1 {
        if level.len() % 2 == 1 {
            let last = level[level.len() - 1];
            level.push(last);
        }
        branch.push(level[pos ^ 1]);
        level = level
            .chunks_exact(2)
            .map(|p| sha256d_pair(&p[0], &p[1]))
            .collect();
        pos /= 2;
    }
    Some(branch)
}

/// Folds a merkle branch: at level k, when bit k of `index` is 1 the sibling
/// is on the left. Bits of `index` beyond the branch must be 0.
///
/// ```
/// # use kwh_btc_iot_core::encoding::bitcoin::{display_hex, from_display_hex};
/// # // Block 100000: four transactions, merkle root f3e94742...
/// # let txids: Vec<[u8; 32]> = ["8c14f0db3df150123e6f3dbbf30f8b955a8249b62ac1d1ff16284aefa3d06d87",
/// #     "fff2525b8931402dd09222c50775608f75787bd2b87e56995a7bdd30f79702c4",
/// #     "6359f0868171b1d194cbee1af2f16ea598ae8fad666d9b012c8ed2b79a236ec4",
/// #     "e9a66845e05d5abc0ad04ec80f774a7e585c6e8db975962d069a522137b80c1d"]
/// #     .iter().map(|h| from_display_hex(h).unwrap()).collect();
/// # let root_hex = "f3e94742aca4b5ef85488dc37c06c3282295ffec960994b2c0d5ac2a25a95766";
/// use kwh_btc_iot_core::encoding::spv::{branch_root, merkle_branch};
/// let branch = merkle_branch(&txids, 1).unwrap();
/// assert_eq!(display_hex(&branch_root(&txids[1], 1, &branch).unwrap()), root_hex);
/// assert!(branch_root(&txids[1], 5, &branch).is_err()); // index bit beyond the branch
/// ```
pub fn branch_root(txid: &[u8; 32], index: u64, branch: &[[u8; 32]]) -> Result<[u8; 32]> {
    if branch.len() > 32 || index >> branch.len() != 0 {
        return Err(DecodeError::new(
            "bad_branch",
            format!(
                "index {index} does not fit a branch of {} levels",
                branch.len()
            ),
        ));
    }
    let mut node = *txid;
    for (k, sib) in branch.iter().enumerate() {
        node = if (index >> k) & 1 == 1 {
            sha256d_pair(sib, &node)
        } else {
            sha256d_pair(&node, sib)
        };
    }
    Ok(node)
}

/// The height of the tree of a block with `n` transactions: levels above the
/// leaves, 0 for a block with only its coinbase.
///
/// ```
/// use kwh_btc_iot_core::encoding::spv::tree_height;
/// assert_eq!([tree_height(1), tree_height(2), tree_height(3), tree_height(4), tree_height(5)], [0, 1, 2, 2, 3]);
/// ```
pub fn tree_height(n: u32) -> usize {
    let mut h = 0;
    while width(n, h) > 1 {
        h += 1;
    }
    h
}

fn width(n: u32, height: usize) -> u64 {
    (u64::from(n) + (1u64 << height) - 1) >> height
}

/// Folds a branch for a block of `tx_count` transactions, checking what the
/// count allows: the branch has exactly the tree's height, the index is in
/// the block, a node at the end of an odd level is paired with itself, and
/// no other node is paired with an equal hash (CVE-2012-2459).
///
/// ```
/// # use kwh_btc_iot_core::encoding::bitcoin::{display_hex, from_display_hex};
/// # // Block 100000: four transactions, merkle root f3e94742...
/// # let txids: Vec<[u8; 32]> = ["8c14f0db3df150123e6f3dbbf30f8b955a8249b62ac1d1ff16284aefa3d06d87",
/// #     "fff2525b8931402dd09222c50775608f75787bd2b87e56995a7bdd30f79702c4",
/// #     "6359f0868171b1d194cbee1af2f16ea598ae8fad666d9b012c8ed2b79a236ec4",
/// #     "e9a66845e05d5abc0ad04ec80f774a7e585c6e8db975962d069a522137b80c1d"]
/// #     .iter().map(|h| from_display_hex(h).unwrap()).collect();
/// # let root_hex = "f3e94742aca4b5ef85488dc37c06c3282295ffec960994b2c0d5ac2a25a95766";
/// use kwh_btc_iot_core::encoding::spv::{branch_root_with_count, merkle_branch};
/// let branch = merkle_branch(&txids, 3).unwrap();
/// assert_eq!(display_hex(&branch_root_with_count(&txids[3], 3, 4, &branch).unwrap()), root_hex);
/// // The same branch cannot claim a block of 5 transactions (its tree is taller).
/// assert!(branch_root_with_count(&txids[3], 3, 5, &branch).is_err());
/// ```
pub fn branch_root_with_count(
    txid: &[u8; 32],
    index: u32,
    tx_count: u32,
    branch: &[[u8; 32]],
) -> Result<[u8; 32]> {
    if tx_count == 0 || tx_count > MAX_BLOCK_TXS {
        return Err(DecodeError::new(
            "bad_branch",
            format!("a block has 1 to {MAX_BLOCK_TXS} transactions, not {tx_count}"),
        ));
    }
    if index >= tx_count {
        return Err(DecodeError::new(
            "bad_branch",
            format!("index {index} is not below the transaction count {tx_count}"),
        ));
    }
    let h = tree_height(tx_count);
    if branch.len() != h {
        return Err(DecodeError::new(
            "bad_branch",
            format!(
                "a block of {tx_count} transactions needs a branch of {h} hashes, got {}",
                branch.len()
            ),
        ));
    }
    let mut node = *txid;
    for (k, sib) in branch.iter().enumerate() {
        let pos = u64::from(index) >> k;
        let last_of_odd = pos % 2 == 0 && pos + 1 == width(tx_count, k);
        if last_of_odd != (*sib == node) {
            return Err(DecodeError::new(
                "mutated_merkle_tree",
                if last_of_odd {
                    format!("level {k}: the last node of an odd level must be paired with itself")
                } else {
                    format!("level {k}: a node is paired with an equal hash (CVE-2012-2459)")
                },
            ));
        }
        node = if pos & 1 == 1 {
            sha256d_pair(sib, &node)
        } else {
            sha256d_pair(&node, sib)
        };
    }
    Ok(node)
}

/// Refuses a transaction whose serialization without witness is 64 bytes:
/// its txid is computed exactly as an inner merkle node is, so it could pose
/// as one (or an inner node as it).
///
/// ```
/// use kwh_btc_iot_core::encoding::{bitcoin::Transaction, spv::check_tx_not_64_bytes};
/// let tx = Transaction::parse(&kwh_btc_iot_testkit::op_return_tx(&[0x42; 32])).unwrap();
/// assert!(check_tx_not_64_bytes(&tx).is_ok());
/// ```
pub fn check_tx_not_64_bytes(tx: &Transaction) -> Result<()> {
    if tx.base_size == 64 {
        return Err(DecodeError::new(
            "ambiguous_64_byte_tx",
            "a 64-byte transaction is indistinguishable from an inner merkle node; refused",
        ));
    }
    Ok(())
}

/// A partial merkle tree (Bitcoin Core `CPartialMerkleTree`).
///
/// ```
/// # use kwh_btc_iot_core::encoding::bitcoin::{display_hex, from_display_hex};
/// # // Block 100000: four transactions, merkle root f3e94742...
/// # let txids: Vec<[u8; 32]> = ["8c14f0db3df150123e6f3dbbf30f8b955a8249b62ac1d1ff16284aefa3d06d87",
/// #     "fff2525b8931402dd09222c50775608f75787bd2b87e56995a7bdd30f79702c4",
/// #     "6359f0868171b1d194cbee1af2f16ea598ae8fad666d9b012c8ed2b79a236ec4",
/// #     "e9a66845e05d5abc0ad04ec80f774a7e585c6e8db975962d069a522137b80c1d"]
/// #     .iter().map(|h| from_display_hex(h).unwrap()).collect();
/// # let root_hex = "f3e94742aca4b5ef85488dc37c06c3282295ffec960994b2c0d5ac2a25a95766";
/// use kwh_btc_iot_core::encoding::spv::PartialMerkleTree;
/// let t = PartialMerkleTree::from_txids(&txids, &[false, false, true, false]);
/// assert_eq!(t.total_transactions, 4);
/// let (root, matched) = t.extract_matches().unwrap();
/// assert_eq!((display_hex(&root).as_str(), matched), (root_hex, vec![(2, txids[2])]));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartialMerkleTree {
    /// Number of transactions in the whole block (not only the matched ones).
    pub total_transactions: u32,
    /// Hashes, depth-first.
    pub hashes: Vec<[u8; 32]>,
    /// Flag bits, depth-first, packed least significant bit first.
    pub flags: Vec<u8>,
}

impl PartialMerkleTree {
    /// Builds the tree that proves the txids where `matches` is true (as
    /// Bitcoin Core does). `matches` must have one entry per txid.
    ///
    /// ```
    /// # use kwh_btc_iot_core::encoding::bitcoin::{display_hex, from_display_hex};
    /// # // Block 100000: four transactions, merkle root f3e94742...
    /// # let txids: Vec<[u8; 32]> = ["8c14f0db3df150123e6f3dbbf30f8b955a8249b62ac1d1ff16284aefa3d06d87",
    /// #     "fff2525b8931402dd09222c50775608f75787bd2b87e56995a7bdd30f79702c4",
    /// #     "6359f0868171b1d194cbee1af2f16ea598ae8fad666d9b012c8ed2b79a236ec4",
    /// #     "e9a66845e05d5abc0ad04ec80f774a7e585c6e8db975962d069a522137b80c1d"]
    /// #     .iter().map(|h| from_display_hex(h).unwrap()).collect();
    /// # let root_hex = "f3e94742aca4b5ef85488dc37c06c3282295ffec960994b2c0d5ac2a25a95766";
    /// use kwh_btc_iot_core::encoding::spv::PartialMerkleTree;
    /// // Proving one of four: the root's flag, the left subtree pruned, the right descended.
    /// let t = PartialMerkleTree::from_txids(&txids, &[false, false, false, true]);
    /// assert_eq!(t.hashes.len(), 3);
    /// ```
    pub fn from_txids(txids: &[[u8; 32]], matches: &[bool]) -> PartialMerkleTree {
        let n = txids.len().min(matches.len()).min(u32::MAX as usize) as u32;
        let mut b = Builder {
            n,
            txids,
            matches,
            bits: Vec::new(),
            hashes: Vec::new(),
        };
        if n > 0 {
            b.build(tree_height(n), 0);
        }
        let mut flags = vec![0u8; b.bits.len().div_ceil(8)];
        for (i, bit) in b.bits.iter().enumerate() {
            if *bit {
                flags[i / 8] |= 1 << (i % 8);
            }
        }
        PartialMerkleTree {
            total_transactions: n,
            hashes: b.hashes,
            flags,
        }
    }

    /// Walks the tree as Bitcoin Core's `ExtractMatches`: returns the merkle
    /// root and the matched (index, txid) pairs, or why the tree is malformed.
    /// Stricter than Core in one point: the padding bits of the last flag
    /// byte must be zero.
    ///
    /// ```
    /// # use kwh_btc_iot_core::encoding::bitcoin::{display_hex, from_display_hex};
    /// # // Block 100000: four transactions, merkle root f3e94742...
    /// # let txids: Vec<[u8; 32]> = ["8c14f0db3df150123e6f3dbbf30f8b955a8249b62ac1d1ff16284aefa3d06d87",
    /// #     "fff2525b8931402dd09222c50775608f75787bd2b87e56995a7bdd30f79702c4",
    /// #     "6359f0868171b1d194cbee1af2f16ea598ae8fad666d9b012c8ed2b79a236ec4",
    /// #     "e9a66845e05d5abc0ad04ec80f774a7e585c6e8db975962d069a522137b80c1d"]
    /// #     .iter().map(|h| from_display_hex(h).unwrap()).collect();
    /// # let root_hex = "f3e94742aca4b5ef85488dc37c06c3282295ffec960994b2c0d5ac2a25a95766";
    /// use kwh_btc_iot_core::encoding::spv::PartialMerkleTree;
    /// let mut t = PartialMerkleTree::from_txids(&txids, &[true, false, false, false]);
    /// assert_eq!(t.extract_matches().unwrap().1, [(0, txids[0])]);
    /// t.hashes.pop();
    /// assert!(t.extract_matches().is_err());
    /// ```
    pub fn extract_matches(&self) -> Result<Matches> {
        let n = self.total_transactions;
        let bad = |m: String| DecodeError::new("bad_partial_tree", m);
        if n == 0 {
            return Err(bad("the block has no transactions".into()));
        }
        if n > MAX_BLOCK_TXS {
            return Err(bad(format!(
                "{n} transactions is more than a block can hold ({MAX_BLOCK_TXS})"
            )));
        }
        if self.hashes.len() > n as usize {
            return Err(bad(format!(
                "{} hashes for {n} transactions",
                self.hashes.len()
            )));
        }
        let nbits = self.flags.len() * 8;
        if nbits < self.hashes.len() {
            return Err(bad(format!(
                "{nbits} flag bits for {} hashes",
                self.hashes.len()
            )));
        }
        let mut w = Walker {
            t: self,
            nbits,
            bits_used: 0,
            hashes_used: 0,
            matches: Vec::new(),
        };
        let root = w.walk(tree_height(n), 0)?;
        if w.bits_used.div_ceil(8) != self.flags.len() {
            return Err(bad(format!(
                "{} flag bytes, but only {} bits were used",
                self.flags.len(),
                w.bits_used
            )));
        }
        // Bitcoin Core ignores the padding bits; they are always zero in
        // what it writes, and refusing others keeps one encoding per proof.
        if (w.bits_used..nbits).any(|i| (self.flags[i / 8] >> (i % 8)) & 1 == 1) {
            return Err(bad(
                "a padding bit after the last used flag bit is set".into()
            ));
        }
        if w.hashes_used != self.hashes.len() {
            return Err(bad(format!(
                "{} hashes, but only {} were used",
                self.hashes.len(),
                w.hashes_used
            )));
        }
        Ok((root, w.matches))
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.total_transactions.to_le_bytes());
        write_compact_size(out, self.hashes.len() as u64);
        for h in &self.hashes {
            out.extend_from_slice(h);
        }
        write_compact_size(out, self.flags.len() as u64);
        out.extend_from_slice(&self.flags);
    }
}

struct Builder<'a> {
    n: u32,
    txids: &'a [[u8; 32]],
    matches: &'a [bool],
    bits: Vec<bool>,
    hashes: Vec<[u8; 32]>,
}

impl Builder<'_> {
    fn hash(&self, height: usize, pos: u64) -> [u8; 32] {
        if height == 0 {
            return self.txids[pos as usize];
        }
        let left = self.hash(height - 1, pos * 2);
        let right = if pos * 2 + 1 < width(self.n, height - 1) {
            self.hash(height - 1, pos * 2 + 1)
        } else {
            left
        };
        sha256d_pair(&left, &right)
    }

    fn build(&mut self, height: usize, pos: u64) {
        let lo = pos << height;
        let hi = ((pos + 1) << height).min(u64::from(self.n));
        let parent_of_match = (lo..hi).any(|p| self.matches[p as usize]);
        self.bits.push(parent_of_match);
        if height == 0 || !parent_of_match {
            let h = self.hash(height, pos);
            self.hashes.push(h);
        } else {
            self.build(height - 1, pos * 2);
            if pos * 2 + 1 < width(self.n, height - 1) {
                self.build(height - 1, pos * 2 + 1);
            }
        }
    }
}

struct Walker<'a> {
    t: &'a PartialMerkleTree,
    nbits: usize,
    bits_used: usize,
    hashes_used: usize,
    matches: Vec<(u32, [u8; 32])>,
}

impl Walker<'_> {
    fn walk(&mut self, height: usize, pos: u64) -> Result<[u8; 32]> {
        let bad = |m: &str| DecodeError::new("bad_partial_tree", m);
        if self.bits_used >= self.nbits {
            return Err(bad("the flag bits run out"));
        }
        let bit = (self.t.flags[self.bits_used / 8] >> (self.bits_used % 8)) & 1 == 1;
        self.bits_used += 1;
        if height == 0 || !bit {
            let h = *self
                .t
                .hashes
                .get(self.hashes_used)
                .ok_or_else(|| bad("the hashes run out"))?;
            self.hashes_used += 1;
            if height == 0 && bit {
                self.matches.push((pos as u32, h));
            }
            return Ok(h);
        }
        let left = self.walk(height - 1, pos * 2)?;
        let right = if pos * 2 + 1 < width(self.t.total_transactions, height - 1) {
            let right = self.walk(height - 1, pos * 2 + 1)?;
            if right == left {
                return Err(DecodeError::new(
                    "mutated_merkle_tree",
                    "two sibling hashes of the partial tree are equal (CVE-2012-2459)",
                ));
            }
            right
        } else {
            left
        };
        Ok(sha256d_pair(&left, &right))
    }
}

/// A `merkleblock` (the serialization `gettxoutproof` returns): a block
/// header and a partial merkle tree of its transactions.
///
/// ```
/// # use kwh_btc_iot_core::encoding::spv::MerkleBlock;
/// # let f = kwh_btc_iot_testkit::BitcoinAnchor::new(&[0x42; 32], 5, 101); // tx 2 of 5, regtest
///
/// let v = f.merkleblock.verify().unwrap();
/// assert_eq!(v.matches, [(2, f.txid)]);
/// assert_eq!(MerkleBlock::parse(&f.merkleblock.to_bytes()).unwrap(), f.merkleblock);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerkleBlock {
    /// The block header.
    pub header: BlockHeader,
    /// The partial tree proving the matched transactions.
    pub tree: PartialMerkleTree,
}

/// A `merkleblock` that checked out: the root it recomputes is the header's.
///
/// ```
/// # use kwh_btc_iot_core::encoding::spv::MerkleBlock;
/// # let f = kwh_btc_iot_testkit::BitcoinAnchor::new(&[0x42; 32], 5, 101); // tx 2 of 5, regtest
///
/// let v = f.merkleblock.verify().unwrap();
/// assert_eq!(v.header, f.header);
/// assert_eq!(v.matches.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedMerkleBlock {
    /// The block header whose merkle root the tree leads to (its proof of
    /// work is not checked here).
    pub header: BlockHeader,
    /// Matched (index in block, txid internal order).
    pub matches: Vec<(u32, [u8; 32])>,
}

impl MerkleBlock {
    /// Parses the serialization; the whole input must be consumed.
    ///
    /// ```
    /// # use kwh_btc_iot_core::encoding::spv::MerkleBlock;
    /// # let f = kwh_btc_iot_testkit::BitcoinAnchor::new(&[0x42; 32], 5, 101); // tx 2 of 5, regtest
    ///
    /// let mut bytes = f.merkleblock.to_bytes();
    /// assert_eq!(MerkleBlock::parse(&bytes).unwrap(), f.merkleblock);
    /// bytes.push(0);
    /// assert!(MerkleBlock::parse(&bytes).is_err()); // trailing byte
    /// ```
    pub fn parse(b: &[u8]) -> Result<MerkleBlock> {
        let mut r = Reader::new(b);
        let header = BlockHeader::parse(r.bytes(80, "block header")?)?;
        let total_transactions = r.u32_le("transaction count")?;
        let n = r.compact_size("hash count")?;
        r.check_count(n, 32, "hashes")?;
        let mut hashes = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let mut h = [0u8; 32];
            h.copy_from_slice(r.bytes(32, "hash")?);
            hashes.push(h);
        }
        let nf = r.compact_size("flag byte count")?;
        let flags = r.bytes(nf, "flag bytes")?.to_vec();
        if let Some(n) = r.end_or_trailing() {
            return Err(DecodeError::new(
                "trailing_data",
                format!("{n} bytes after the end of the merkleblock"),
            ));
        };
        Ok(MerkleBlock {
            header,
            tree: PartialMerkleTree {
                total_transactions,
                hashes,
                flags,
            },
        })
    }

    /// Parses hex, as `gettxoutproof` prints it.
    ///
    /// ```
    /// # use kwh_btc_iot_core::encoding::spv::MerkleBlock;
    /// # let f = kwh_btc_iot_testkit::BitcoinAnchor::new(&[0x42; 32], 5, 101); // tx 2 of 5, regtest
    ///
    /// use kwh_btc_iot_core::encoding::hex;
    /// let text = hex::encode(&f.merkleblock.to_bytes());
    /// assert_eq!(MerkleBlock::from_hex(&text).unwrap(), f.merkleblock);
    /// ```
    pub fn from_hex(s: &str) -> Result<MerkleBlock> {
        if s.len() > 2 * 1024 * 1024 {
            return Err(DecodeError::new(
                "too_large",
                "merkleblock is larger than 1 MiB",
            ));
        }
        MerkleBlock::parse(&super::bitcoin::decode_hex(s)?)
    }

    /// A merkleblock proving the txids where `matches` is true.
    ///
    /// ```
    /// # use kwh_btc_iot_core::encoding::spv::MerkleBlock;
    /// # let f = kwh_btc_iot_testkit::BitcoinAnchor::new(&[0x42; 32], 5, 101); // tx 2 of 5, regtest
    ///
    /// let mb = MerkleBlock::new(f.header, &f.txids, &[true, false, false, false, false]);
    /// assert_eq!(mb.verify().unwrap().matches, [(0, f.txids[0])]);
    /// ```
    pub fn new(header: BlockHeader, txids: &[[u8; 32]], matches: &[bool]) -> MerkleBlock {
        MerkleBlock {
            header,
            tree: PartialMerkleTree::from_txids(txids, matches),
        }
    }

    /// The serialization: the 80-byte header, then the partial tree.
    ///
    /// ```
    /// # use kwh_btc_iot_core::encoding::spv::MerkleBlock;
    /// # let f = kwh_btc_iot_testkit::BitcoinAnchor::new(&[0x42; 32], 5, 101); // tx 2 of 5, regtest
    ///
    /// let bytes = f.merkleblock.to_bytes();
    /// assert_eq!(&bytes[..80], &f.header.to_bytes()[..]);
    /// ```
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.header.to_bytes().to_vec();
        self.tree.write(&mut out);
        out
    }

    /// Walks the partial tree and checks that it leads to the header's
    /// merkle root (proof of work is checked separately).
    ///
    /// ```
    /// # use kwh_btc_iot_core::encoding::spv::MerkleBlock;
    /// # let f = kwh_btc_iot_testkit::BitcoinAnchor::new(&[0x42; 32], 5, 101); // tx 2 of 5, regtest
    ///
    /// let mut mb = f.merkleblock.clone();
    /// assert!(mb.verify().is_ok());
    /// mb.header.merkle_root[0] ^= 1;
    /// assert!(mb.verify().is_err());
    /// ```
    pub fn verify(&self) -> Result<VerifiedMerkleBlock> {
        let (root, matches) = self.tree.extract_matches()?;
        if root != self.header.merkle_root {
            return Err(DecodeError::new(
                "bad_merkle_root",
                format!(
                    "the partial tree leads to merkle root {}, the header says {}",
                    super::bitcoin::display_hex(&root),
                    super::bitcoin::display_hex(&self.header.merkle_root)
                ),
            ));
        }
        Ok(VerifiedMerkleBlock {
            header: self.header,
            matches,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::bitcoin::merkle_root;

    fn ids(n: u8) -> Vec<[u8; 32]> {
        (0..n).map(|i| [i.wrapping_add(1); 32]).collect()
    }

    #[test]
    fn partial_trees_round_trip_for_every_shape() {
        for n in 1..=9u8 {
            let txids = ids(n);
            let (root, _) = merkle_root(&txids).unwrap();
            for i in 0..n as usize {
                let mut m = vec![false; n as usize];
                m[i] = true;
                let t = PartialMerkleTree::from_txids(&txids, &m);
                let (r, matches) = t.extract_matches().unwrap();
                assert_eq!(r, root);
                assert_eq!(matches, vec![(i as u32, txids[i])]);
                let branch = merkle_branch(&txids, i).unwrap();
                assert_eq!(branch_root(&txids[i], i as u64, &branch).unwrap(), root);
                assert_eq!(
                    branch_root_with_count(&txids[i], i as u32, n as u32, &branch).unwrap(),
                    root
                );
            }
        }
    }

    #[test]
    fn duplicated_leaves_are_refused() {
        // [a, b, c] and [a, b, c, c] have the same root; the second is mutated.
        let mut txids = ids(3);
        let (root3, m3) = merkle_root(&txids).unwrap();
        txids.push(txids[2]);
        let (root4, m4) = merkle_root(&txids).unwrap();
        assert_eq!(root3, root4);
        assert!(!m3 && m4);
        // A partial tree over the 4-list proving index 3 is refused.
        let t = PartialMerkleTree::from_txids(&txids, &[false, false, false, true]);
        assert_eq!(t.extract_matches().unwrap_err().code, "mutated_merkle_tree");
        // A branch for index 3 of 4 with an equal sibling is refused with the count.
        let branch = merkle_branch(&txids, 3).unwrap();
        assert_eq!(
            branch_root_with_count(&txids[3], 3, 4, &branch)
                .unwrap_err()
                .code,
            "mutated_merkle_tree"
        );
    }
}
