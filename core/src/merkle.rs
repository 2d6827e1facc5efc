//! RFC 9162 Merkle trees: roots, inclusion (audit) paths, consistency proofs
//! and their verifiers.
//!
//! The tree over `n` leaves splits at the largest power of two smaller than
//! `n`; odd nodes are never duplicated. Built bottom-up, that is the same as
//! carrying an unpaired last node up a level unchanged, which is how
//! [`MerkleTree`] stores its levels.
//!
//! ```
//! # use kwh_btc_iot_core::hash::leaf_hash_bytes;
//! # // The RFC 6962 reference leaves (certificate-transparency-go's test data).
//! # let data: [&[u8]; 8] = [b"", &[0], &[0x10], &[0x20, 0x21], &[0x30, 0x31], &[0x40, 0x41, 0x42, 0x43],
//! #     &[0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57], &[0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f]];
//! # let leaves: Vec<_> = data.iter().map(|d| leaf_hash_bytes(d)).collect();
//! use kwh_btc_iot_core::merkle::{root, MerkleTree, verify_inclusion};
//! let tree = MerkleTree::new(leaves.clone());
//! assert_eq!(root(&leaves).to_hex(), "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328");
//! let path = tree.inclusion_path(5).unwrap();
//! assert!(verify_inclusion(&leaves[5], 5, 8, &path, &tree.root()).is_ok());
//! ```

use crate::error::{Error, ErrorCode, Result};
use crate::hash::{node_hash, sha256, Hash};

/// Root of the empty tree: SHA-256 of the empty string (RFC 9162 2.1.1).
///
/// ```
/// use kwh_btc_iot_core::merkle::{empty_root, root};
/// assert_eq!(empty_root().to_hex(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
/// assert_eq!(root(&[]), empty_root());
/// ```
pub fn empty_root() -> Hash {
    sha256(b"")
}

/// The root of a list of leaf hashes, in O(log n) memory beyond the input.
///
/// ```
/// use kwh_btc_iot_core::{hash::leaf_hash_bytes, merkle::root};
/// let leaves: Vec<_> = [b"a", b"b", b"c"].iter().map(|d| leaf_hash_bytes(*d)).collect();
/// assert_eq!(root(&leaves), kwh_btc_iot_core::merkle::MerkleTree::new(leaves.clone()).root());
/// ```
pub fn root(leaves: &[Hash]) -> Hash {
    let mut b = RootBuilder::new();
    for l in leaves {
        b.push(*l);
    }
    b.root()
}

/// A streaming root builder: push leaf hashes one by one, ask for the root at
/// any time. Holds one hash per set bit of the leaf count (at most 64).
///
/// ```
/// # use kwh_btc_iot_core::hash::leaf_hash_bytes;
/// # // The RFC 6962 reference leaves (certificate-transparency-go's test data).
/// # let data: [&[u8]; 8] = [b"", &[0], &[0x10], &[0x20, 0x21], &[0x30, 0x31], &[0x40, 0x41, 0x42, 0x43],
/// #     &[0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57], &[0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f]];
/// # let leaves: Vec<_> = data.iter().map(|d| leaf_hash_bytes(d)).collect();
/// use kwh_btc_iot_core::merkle::{root, RootBuilder};
/// let mut b = RootBuilder::new();
/// for l in &leaves {
///     b.push(*l);
/// }
/// assert_eq!(b.root(), root(&leaves));
/// ```
#[derive(Debug, Clone, Default)]
pub struct RootBuilder {
    /// Roots of perfect subtrees, largest first.
    stack: Vec<Hash>,
    count: u64,
}

impl RootBuilder {
    /// An empty builder (its root is the empty-tree root).
    ///
    /// ```
    /// let b = kwh_btc_iot_core::RootBuilder::new();
    /// assert_eq!((b.len(), b.root()), (0, kwh_btc_iot_core::merkle::empty_root()));
    /// ```
    pub fn new() -> Self {
        RootBuilder {
            stack: Vec::with_capacity(64),
            count: 0,
        }
    }

    /// Appends one leaf hash (already hashed with the 0x00 prefix).
    ///
    /// ```
    /// use kwh_btc_iot_core::{hash::leaf_hash_bytes, RootBuilder};
    /// let mut b = RootBuilder::new();
    /// b.push(leaf_hash_bytes(b""));
    /// assert_eq!(b.root().to_hex(), "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
    /// ```
    #[inline]
    pub fn push(&mut self, leaf: Hash) {
        let mut h = leaf;
        let mut n = self.count;
        // Each trailing one bit of the old count is a perfect subtree of the
        // same size as the one just completed: merge them.
        while n & 1 == 1 {
            let left = self.stack.pop().expect("one stack entry per set bit");
            h = node_hash(&left, &h);
            n >>= 1;
        }
        self.stack.push(h);
        self.count += 1;
    }

    /// Number of leaves pushed.
    ///
    /// ```
    /// use kwh_btc_iot_core::{hash::leaf_hash_bytes, RootBuilder};
    /// let mut b = RootBuilder::new();
    /// (0u8..3).for_each(|i| b.push(leaf_hash_bytes(&[i])));
    /// assert_eq!(b.len(), 3);
    /// ```
    pub fn len(&self) -> u64 {
        self.count
    }

    /// True before the first push.
    ///
    /// ```
    /// let mut b = kwh_btc_iot_core::RootBuilder::new();
    /// assert!(b.is_empty());
    /// b.push(kwh_btc_iot_core::hash::leaf_hash_bytes(b"x"));
    /// assert!(!b.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The root of the leaves pushed so far; the builder can keep growing.
    ///
    /// ```
    /// # use kwh_btc_iot_core::hash::leaf_hash_bytes;
    /// # // The RFC 6962 reference leaves (certificate-transparency-go's test data).
    /// # let data: [&[u8]; 8] = [b"", &[0], &[0x10], &[0x20, 0x21], &[0x30, 0x31], &[0x40, 0x41, 0x42, 0x43],
    /// #     &[0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57], &[0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f]];
    /// # let leaves: Vec<_> = data.iter().map(|d| leaf_hash_bytes(d)).collect();
    /// use kwh_btc_iot_core::{merkle::root, RootBuilder};
    /// let mut b = RootBuilder::new();
    /// b.push(leaves[0]);
    /// b.push(leaves[1]);
    /// assert_eq!(b.root(), root(&leaves[..2]));
    /// ```
    pub fn root(&self) -> Hash {
        let mut it = self.stack.iter().rev();
        let Some(&last) = it.next() else {
            return empty_root();
        };
        it.fold(last, |acc, left| node_hash(left, &acc))
    }
}

/// A whole tree kept in memory (about 2n hashes), for serving many proofs.
///
/// ```
/// # use kwh_btc_iot_core::hash::leaf_hash_bytes;
/// # // The RFC 6962 reference leaves (certificate-transparency-go's test data).
/// # let data: [&[u8]; 8] = [b"", &[0], &[0x10], &[0x20, 0x21], &[0x30, 0x31], &[0x40, 0x41, 0x42, 0x43],
/// #     &[0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57], &[0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f]];
/// # let leaves: Vec<_> = data.iter().map(|d| leaf_hash_bytes(d)).collect();
/// use kwh_btc_iot_core::MerkleTree;
/// let tree = MerkleTree::new(leaves);
/// assert_eq!(tree.size(), 8);
/// assert_eq!(tree.inclusion_path(0).unwrap().len(), 3);
/// ```
#[derive(Debug, Clone)]
pub struct MerkleTree {
    /// `levels[0]` are the leaves, the last level holds the root.
    levels: Vec<Vec<Hash>>,
}

impl MerkleTree {
    /// Builds every level of the tree from leaf hashes, in order.
    ///
    /// ```
    /// use kwh_btc_iot_core::{hash::leaf_hash_bytes, MerkleTree};
    /// let tree = MerkleTree::new(vec![leaf_hash_bytes(b"")]);
    /// assert_eq!(tree.root(), leaf_hash_bytes(b""));
    /// ```
    pub fn new(leaves: Vec<Hash>) -> Self {
        let mut levels = vec![leaves];
        while levels.last().map_or(0, Vec::len) > 1 {
            let prev = levels.last().expect("non-empty");
            let mut next = Vec::with_capacity(prev.len().div_ceil(2));
            for pair in prev.chunks(2) {
                next.push(if pair.len() == 2 {
                    node_hash(&pair[0], &pair[1])
                } else {
                    pair[0]
                });
            }
            levels.push(next);
        }
        MerkleTree { levels }
    }

    /// Number of leaves.
    ///
    /// ```
    /// assert_eq!(kwh_btc_iot_core::MerkleTree::new(vec![]).size(), 0);
    /// ```
    pub fn size(&self) -> u64 {
        self.levels[0].len() as u64
    }

    /// The leaf hashes, in the order given to [`MerkleTree::new`].
    ///
    /// ```
    /// use kwh_btc_iot_core::{hash::leaf_hash_bytes, MerkleTree};
    /// let l = vec![leaf_hash_bytes(b"a"), leaf_hash_bytes(b"b")];
    /// assert_eq!(MerkleTree::new(l.clone()).leaves(), &l[..]);
    /// ```
    pub fn leaves(&self) -> &[Hash] {
        &self.levels[0]
    }

    /// The root (the empty-tree root for no leaves).
    ///
    /// ```
    /// use kwh_btc_iot_core::{merkle::empty_root, MerkleTree};
    /// assert_eq!(MerkleTree::new(vec![]).root(), empty_root());
    /// ```
    pub fn root(&self) -> Hash {
        match self.levels.last().and_then(|l| l.first()) {
            Some(h) if self.size() > 0 => *h,
            _ => empty_root(),
        }
    }

    /// The RFC 9162 inclusion path of leaf `index`, sibling hashes from the leaf
    /// up to the root; `index_out_of_range` past the last leaf.
    ///
    /// ```
    /// # use kwh_btc_iot_core::hash::leaf_hash_bytes;
    /// # // The RFC 6962 reference leaves (certificate-transparency-go's test data).
    /// # let data: [&[u8]; 8] = [b"", &[0], &[0x10], &[0x20, 0x21], &[0x30, 0x31], &[0x40, 0x41, 0x42, 0x43],
    /// #     &[0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57], &[0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f]];
    /// # let leaves: Vec<_> = data.iter().map(|d| leaf_hash_bytes(d)).collect();
    /// let tree = kwh_btc_iot_core::MerkleTree::new(leaves.clone());
    /// let path = tree.inclusion_path(7).unwrap();
    /// assert_eq!(path.len(), 3);
    /// assert_eq!(tree.inclusion_path(8).unwrap_err().code.as_str(), "index_out_of_range");
    /// ```
    pub fn inclusion_path(&self, index: u64) -> Result<Vec<Hash>> {
        if index >= self.size() {
            return Err(index_error(index, self.size()));
        }
        let mut path = Vec::with_capacity(self.levels.len());
        let mut i = index as usize;
        for level in &self.levels[..self.levels.len() - 1] {
            let sibling = i ^ 1;
            if sibling < level.len() {
                path.push(level[sibling]);
            }
            i >>= 1;
        }
        Ok(path)
    }

    /// Hash of leaves `[start, end)`; O(log n) using the stored levels.
    fn range_hash(&self, start: usize, end: usize) -> Hash {
        let n = end - start;
        if n.is_power_of_two() && start % n == 0 {
            let level = n.trailing_zeros() as usize;
            return self.levels[level][start >> level];
        }
        let k = largest_power_of_two_below(n as u64) as usize;
        node_hash(
            &self.range_hash(start, start + k),
            &self.range_hash(start + k, end),
        )
    }

    /// The RFC 9162 consistency proof from the tree's first `old_size` leaves
    /// to the whole tree.
    ///
    /// ```
    /// # use kwh_btc_iot_core::hash::leaf_hash_bytes;
    /// # // The RFC 6962 reference leaves (certificate-transparency-go's test data).
    /// # let data: [&[u8]; 8] = [b"", &[0], &[0x10], &[0x20, 0x21], &[0x30, 0x31], &[0x40, 0x41, 0x42, 0x43],
    /// #     &[0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57], &[0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f]];
    /// # let leaves: Vec<_> = data.iter().map(|d| leaf_hash_bytes(d)).collect();
    /// use kwh_btc_iot_core::{merkle::{root, verify_consistency}, MerkleTree};
    /// let tree = MerkleTree::new(leaves.clone());
    /// let proof = tree.consistency_proof(3).unwrap();
    /// assert!(verify_consistency(3, 8, &root(&leaves[..3]), &tree.root(), &proof).is_ok());
    /// ```
    pub fn consistency_proof(&self, old_size: u64) -> Result<Vec<Hash>> {
        let n = self.size();
        if old_size == 0 || old_size > n {
            return Err(Error::member(
                ErrorCode::IndexOutOfRange,
                "old_size",
                format!("must be within 1..={n}, got {old_size}"),
            ));
        }
        let mut proof = Vec::new();
        self.subproof(old_size as usize, 0, n as usize, true, &mut proof);
        Ok(proof)
    }

    fn subproof(&self, m: usize, start: usize, end: usize, whole: bool, out: &mut Vec<Hash>) {
        let n = end - start;
        if m == n {
            if !whole {
                out.push(self.range_hash(start, end));
            }
            return;
        }
        let k = largest_power_of_two_below(n as u64) as usize;
        if m <= k {
            self.subproof(m, start, start + k, whole, out);
            out.push(self.range_hash(start + k, end));
        } else {
            self.subproof(m - k, start + k, end, false, out);
            out.push(self.range_hash(start, start + k));
        }
    }
}

/// The inclusion path of `leaves[index]` without keeping a tree (O(n) per
/// call; use [`MerkleTree`] for many proofs).
///
/// ```
/// # use kwh_btc_iot_core::hash::leaf_hash_bytes;
/// # // The RFC 6962 reference leaves (certificate-transparency-go's test data).
/// # let data: [&[u8]; 8] = [b"", &[0], &[0x10], &[0x20, 0x21], &[0x30, 0x31], &[0x40, 0x41, 0x42, 0x43],
/// #     &[0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57], &[0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f]];
/// # let leaves: Vec<_> = data.iter().map(|d| leaf_hash_bytes(d)).collect();
/// use kwh_btc_iot_core::merkle::{inclusion_path, MerkleTree};
/// assert_eq!(inclusion_path(&leaves, 2).unwrap(), MerkleTree::new(leaves.clone()).inclusion_path(2).unwrap());
/// ```
pub fn inclusion_path(leaves: &[Hash], index: u64) -> Result<Vec<Hash>> {
    MerkleTree::new(leaves.to_vec()).inclusion_path(index)
}

/// The consistency proof between the first `old_size` leaves and all of them.
///
/// ```
/// # use kwh_btc_iot_core::hash::leaf_hash_bytes;
/// # // The RFC 6962 reference leaves (certificate-transparency-go's test data).
/// # let data: [&[u8]; 8] = [b"", &[0], &[0x10], &[0x20, 0x21], &[0x30, 0x31], &[0x40, 0x41, 0x42, 0x43],
/// #     &[0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57], &[0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f]];
/// # let leaves: Vec<_> = data.iter().map(|d| leaf_hash_bytes(d)).collect();
/// use kwh_btc_iot_core::merkle::consistency_proof;
/// assert_eq!(consistency_proof(&leaves, 4).unwrap().len(), 1);
/// assert!(consistency_proof(&leaves, 8).unwrap().is_empty());
/// ```
pub fn consistency_proof(leaves: &[Hash], old_size: u64) -> Result<Vec<Hash>> {
    MerkleTree::new(leaves.to_vec()).consistency_proof(old_size)
}

/// Largest power of two strictly smaller than `n` (n >= 2).
fn largest_power_of_two_below(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

fn index_error(index: u64, size: u64) -> Error {
    Error::member(
        ErrorCode::IndexOutOfRange,
        "leaf_index",
        format!("must be less than the tree size {size}, got {index}"),
    )
}

fn proof_error(what: impl std::fmt::Display) -> Error {
    Error::member(ErrorCode::InvalidProof, "inclusion_path", what)
}

/// Folds an inclusion path (RFC 9162 section 2.1.3.2) into the root it
/// implies. Fails when the path has the wrong length for `index`/`size`.
///
/// ```
/// # use kwh_btc_iot_core::hash::leaf_hash_bytes;
/// # // The RFC 6962 reference leaves (certificate-transparency-go's test data).
/// # let data: [&[u8]; 8] = [b"", &[0], &[0x10], &[0x20, 0x21], &[0x30, 0x31], &[0x40, 0x41, 0x42, 0x43],
/// #     &[0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57], &[0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f]];
/// # let leaves: Vec<_> = data.iter().map(|d| leaf_hash_bytes(d)).collect();
/// use kwh_btc_iot_core::merkle::{inclusion_path, root, root_from_inclusion_path};
/// let path = inclusion_path(&leaves, 6).unwrap();
/// assert_eq!(root_from_inclusion_path(&leaves[6], 6, 8, &path).unwrap(), root(&leaves));
/// assert!(root_from_inclusion_path(&leaves[6], 6, 8, &path[..2]).is_err());
/// ```
pub fn root_from_inclusion_path(leaf: &Hash, index: u64, size: u64, path: &[Hash]) -> Result<Hash> {
    if index >= size {
        return Err(index_error(index, size));
    }
    let mut fn_ = index;
    let mut sn = size - 1;
    let mut r = *leaf;
    for p in path {
        if sn == 0 {
            return Err(proof_error(format!(
                "has more hashes than a tree of size {size} needs for leaf {index}"
            )));
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(proof_error(format!(
            "has fewer hashes than a tree of size {size} needs for leaf {index}"
        )));
    }
    Ok(r)
}

/// Verifies an inclusion path against a root.
///
/// ```
/// use kwh_btc_iot_core::{hash::leaf_hash_bytes, merkle::{MerkleTree, verify_inclusion}};
/// let leaves: Vec<_> = (0u8..5).map(|i| leaf_hash_bytes(&[i])).collect();
/// let tree = MerkleTree::new(leaves.clone());
/// let path = tree.inclusion_path(3).unwrap();
/// assert!(verify_inclusion(&leaves[3], 3, 5, &path, &tree.root()).is_ok());
/// assert!(verify_inclusion(&leaves[2], 3, 5, &path, &tree.root()).is_err());
/// ```
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    path: &[Hash],
    root: &Hash,
) -> Result<()> {
    let r = root_from_inclusion_path(leaf, index, size, path)?;
    if r != *root {
        return Err(proof_error(format!(
            "leads to root {} instead of {}",
            r.to_hex(),
            root.to_hex()
        )));
    }
    Ok(())
}

fn consistency_error(what: impl std::fmt::Display) -> Error {
    Error::member(ErrorCode::InvalidProof, "consistency_proof", what)
}

/// Verifies an RFC 9162 consistency proof (section 2.1.4.2) between a tree
/// of `size1` leaves with `root1` and one of `size2` leaves with `root2`.
///
/// ```
/// # use kwh_btc_iot_core::hash::leaf_hash_bytes;
/// # // The RFC 6962 reference leaves (certificate-transparency-go's test data).
/// # let data: [&[u8]; 8] = [b"", &[0], &[0x10], &[0x20, 0x21], &[0x30, 0x31], &[0x40, 0x41, 0x42, 0x43],
/// #     &[0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57], &[0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f]];
/// # let leaves: Vec<_> = data.iter().map(|d| leaf_hash_bytes(d)).collect();
/// use kwh_btc_iot_core::merkle::{consistency_proof, root, verify_consistency};
/// let proof = consistency_proof(&leaves, 6).unwrap();
/// let (old, new) = (root(&leaves[..6]), root(&leaves));
/// assert!(verify_consistency(6, 8, &old, &new, &proof).is_ok());
/// assert!(verify_consistency(6, 8, &new, &new, &proof).is_err());
/// ```
pub fn verify_consistency(
    size1: u64,
    size2: u64,
    root1: &Hash,
    root2: &Hash,
    proof: &[Hash],
) -> Result<()> {
    if size1 > size2 {
        return Err(consistency_error(format!(
            "old size {size1} is larger than new size {size2}"
        )));
    }
    if size1 == 0 {
        return Err(consistency_error(
            "a consistency proof from the empty tree proves nothing",
        ));
    }
    if size1 == size2 {
        if !proof.is_empty() {
            return Err(consistency_error("must be empty when both sizes are equal"));
        }
        if root1 != root2 {
            return Err(consistency_error("roots differ for trees of the same size"));
        }
        return Ok(());
    }
    if proof.is_empty() {
        return Err(consistency_error("is empty"));
    }
    let mut path = proof;
    let seed;
    if size1.is_power_of_two() {
        seed = *root1;
    } else {
        seed = path[0];
        path = &path[1..];
    }
    let mut fn_ = size1 - 1;
    let mut sn = size2 - 1;
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let mut fr = seed;
    let mut sr = seed;
    for c in path {
        if sn == 0 {
            return Err(consistency_error("has more hashes than the sizes need"));
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(consistency_error("has fewer hashes than the sizes need"));
    }
    if fr != *root1 {
        return Err(consistency_error("does not lead to the old root"));
    }
    if sr != *root2 {
        return Err(consistency_error("does not lead to the new root"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::leaf_hash_bytes;

    /// RFC 9162 section 2.1.1, written as the definition reads.
    fn naive_root(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = largest_power_of_two_below(n as u64) as usize;
                node_hash(&naive_root(&leaves[..k]), &naive_root(&leaves[k..]))
            }
        }
    }

    /// RFC 9162 section 2.1.3.1 PATH(m, D[n]).
    fn naive_path(m: usize, leaves: &[Hash]) -> Vec<Hash> {
        let n = leaves.len();
        if n <= 1 {
            return vec![];
        }
        let k = largest_power_of_two_below(n as u64) as usize;
        if m < k {
            let mut p = naive_path(m, &leaves[..k]);
            p.push(naive_root(&leaves[k..]));
            p
        } else {
            let mut p = naive_path(m - k, &leaves[k..]);
            p.push(naive_root(&leaves[..k]));
            p
        }
    }

    /// RFC 9162 section 2.1.4.1 SUBPROOF.
    fn naive_subproof(m: usize, leaves: &[Hash], b: bool) -> Vec<Hash> {
        let n = leaves.len();
        if m == n {
            return if b { vec![] } else { vec![naive_root(leaves)] };
        }
        let k = largest_power_of_two_below(n as u64) as usize;
        if m <= k {
            let mut p = naive_subproof(m, &leaves[..k], b);
            p.push(naive_root(&leaves[k..]));
            p
        } else {
            let mut p = naive_subproof(m - k, &leaves[k..], false);
            p.push(naive_root(&leaves[..k]));
            p
        }
    }

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n as u32)
            .map(|i| leaf_hash_bytes(&i.to_be_bytes()))
            .collect()
    }

    #[test]
    fn every_size_up_to_300_matches_the_naive_definition() {
        let all = leaves(300);
        let mut builder = RootBuilder::new();
        for n in 0..=300usize {
            let l = &all[..n];
            let want = naive_root(l);
            assert_eq!(root(l), want, "root n={n}");
            assert_eq!(builder.root(), want, "streaming n={n}");
            let tree = MerkleTree::new(l.to_vec());
            assert_eq!(tree.root(), want, "tree n={n}");
            for i in 0..n {
                let p = tree.inclusion_path(i as u64).unwrap();
                assert_eq!(p, naive_path(i, l), "path n={n} i={i}");
                verify_inclusion(&l[i], i as u64, n as u64, &p, &want).unwrap();
                if i + 1 < n {
                    assert!(verify_inclusion(&l[i + 1], i as u64, n as u64, &p, &want).is_err());
                }
            }
            if n <= 100 {
                for m in 1..=n {
                    let proof = tree.consistency_proof(m as u64).unwrap();
                    assert_eq!(proof, naive_subproof(m, l, true), "consistency {m}->{n}");
                    verify_consistency(m as u64, n as u64, &naive_root(&l[..m]), &want, &proof)
                        .unwrap();
                    if m < n {
                        assert!(
                            verify_consistency(m as u64, n as u64, &want, &want, &proof).is_err()
                                || m == n
                        );
                    }
                }
            }
            if n < 300 {
                builder.push(all[n]);
            }
        }
    }

    #[test]
    fn out_of_range_index_is_an_error_not_a_panic() {
        let t = MerkleTree::new(leaves(3));
        assert_eq!(
            t.inclusion_path(3).unwrap_err().code,
            ErrorCode::IndexOutOfRange
        );
        assert!(verify_inclusion(&Hash::default(), 0, 0, &[], &Hash::default()).is_err());
        assert!(
            verify_inclusion(&Hash::default(), u64::MAX, u64::MAX, &[], &Hash::default()).is_err()
        );
        assert!(t.consistency_proof(0).is_err());
        assert!(t.consistency_proof(4).is_err());
    }
}
