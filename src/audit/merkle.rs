//! RFC 9162 Merkle tree over audit events: SHA-256, leaf = H(0x00 || data), node =
//! H(0x01 || left || right).
//!
//! The tree is stored as the hashes of its *perfect* subtrees: node (level, index) covers leaves
//! `[index * 2^level, (index + 1) * 2^level)`. Appending a leaf completes at most `log2(n)` of
//! them. Any range hash, inclusion proof or consistency proof is then `O(log^2 n)` lookups.
//! Verifiers consume every proof element: a proof with a missing or extra element fails.
// Re-exported by the `testing` module only; private otherwise.
#![cfg_attr(not(feature = "testing"), allow(unreachable_pub))]

use sha2::{Digest, Sha256};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// `H(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(data);
    h.finalize().into()
}

/// `H(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The hash of the empty tree, `H()`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The roots of the perfect subtrees that make up a tree of `size` leaves, left to right.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Frontier {
    /// Number of leaves.
    pub size: u64,
    /// Perfect subtree roots, largest (leftmost) first; one per set bit of `size`.
    pub hashes: Vec<Hash>,
}

impl Frontier {
    /// Appends a leaf hash; returns the perfect nodes it completed as `(level, index, hash)`,
    /// the leaf itself first.
    pub fn push(&mut self, leaf: Hash) -> Vec<(u8, u64, Hash)> {
        let mut done = vec![(0u8, self.size, leaf)];
        let mut cur = leaf;
        let mut level = 0u8;
        let mut index = self.size;
        // A set low bit of `size` at `level` means a perfect subtree of that level is waiting.
        while (self.size >> level) & 1 == 1 {
            // invariant: one hash is stored per set bit of `size`, so the stack is non-empty.
            let left = self.hashes.pop().expect("invariant: frontier matches size bits");
            cur = node_hash(&left, &cur);
            level += 1;
            index >>= 1;
            done.push((level, index, cur));
        }
        self.hashes.push(cur);
        self.size += 1;
        done
    }

    /// The tree root (`MTH` of all leaves).
    pub fn root(&self) -> Hash {
        let mut it = self.hashes.iter().rev();
        match it.next() {
            None => empty_root(),
            Some(last) => it.fold(*last, |acc, left| node_hash(left, &acc)),
        }
    }
}

/// Source of perfect subtree hashes (level, index).
pub trait NodeSource {
    /// The hash of perfect node (level, index), if stored.
    fn node(&self, level: u8, index: u64) -> Option<Hash>;
}

/// Errors of proof construction (the tree does not hold what was asked).
#[derive(Debug, PartialEq, Eq)]
pub struct MissingNode;

fn largest_pow2_below(n: u64) -> u64 {
    // n >= 2
    1u64 << (63 - (n - 1).leading_zeros())
}

/// `MTH(D[lo:hi])`, from stored perfect nodes.
pub fn range_hash<S: NodeSource + ?Sized>(src: &S, lo: u64, hi: u64) -> Result<Hash, MissingNode> {
    let n = hi - lo;
    if n == 0 {
        return Ok(empty_root());
    }
    if n.is_power_of_two() && lo.is_multiple_of(n) {
        return src.node(n.trailing_zeros() as u8, lo / n).ok_or(MissingNode);
    }
    let k = largest_pow2_below(n);
    Ok(node_hash(&range_hash(src, lo, lo + k)?, &range_hash(src, lo + k, hi)?))
}

/// RFC 9162 §2.1.3.1 inclusion proof of leaf `m` in the tree of the first `n` leaves.
pub fn inclusion_proof<S: NodeSource + ?Sized>(src: &S, m: u64, n: u64) -> Result<Vec<Hash>, MissingNode> {
    fn path<S: NodeSource + ?Sized>(src: &S, m: u64, lo: u64, hi: u64, out: &mut Vec<Hash>) -> Result<(), MissingNode> {
        let n = hi - lo;
        if n <= 1 {
            return Ok(());
        }
        let k = largest_pow2_below(n);
        if m < k {
            path(src, m, lo, lo + k, out)?;
            out.push(range_hash(src, lo + k, hi)?);
        } else {
            path(src, m - k, lo + k, hi, out)?;
            out.push(range_hash(src, lo, lo + k)?);
        }
        Ok(())
    }
    if m >= n {
        return Err(MissingNode);
    }
    let mut out = Vec::new();
    path(src, m, 0, n, &mut out)?;
    Ok(out)
}

/// RFC 9162 §2.1.4.1 consistency proof between the trees of the first `m` and `n` leaves.
pub fn consistency_proof<S: NodeSource + ?Sized>(src: &S, m: u64, n: u64) -> Result<Vec<Hash>, MissingNode> {
    fn subproof<S: NodeSource + ?Sized>(
        src: &S,
        m: u64,
        lo: u64,
        hi: u64,
        whole: bool,
        out: &mut Vec<Hash>,
    ) -> Result<(), MissingNode> {
        let n = hi - lo;
        if m == n {
            if !whole {
                out.push(range_hash(src, lo, hi)?);
            }
            return Ok(());
        }
        let k = largest_pow2_below(n);
        if m <= k {
            subproof(src, m, lo, lo + k, whole, out)?;
            out.push(range_hash(src, lo + k, hi)?);
        } else {
            subproof(src, m - k, lo + k, hi, false, out)?;
            out.push(range_hash(src, lo, lo + k)?);
        }
        Ok(())
    }
    if m == 0 || m > n {
        return Err(MissingNode);
    }
    let mut out = Vec::new();
    if m < n {
        subproof(src, m, 0, n, true, &mut out)?;
    }
    Ok(out)
}

/// RFC 9162 §2.1.3.2: verifies that `leaf` is leaf `m` of the tree of size `n` with `root`.
pub fn verify_inclusion(m: u64, n: u64, leaf: &Hash, proof: &[Hash], root: &Hash) -> bool {
    if m >= n {
        return false;
    }
    let (mut fnode, mut snode) = (m, n - 1);
    let mut r = *leaf;
    for p in proof {
        if snode == 0 {
            return false; // extra element
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    snode == 0 && r == *root
}

/// RFC 9162 §2.1.4.2: verifies that the tree of size `n` with `root2` extends the tree of
/// size `m` with `root1`.
pub fn verify_consistency(m: u64, n: u64, root1: &Hash, root2: &Hash, proof: &[Hash]) -> bool {
    if m == 0 || m > n {
        return false;
    }
    if m == n {
        return proof.is_empty() && root1 == root2;
    }
    let mut proof: Vec<Hash> = proof.to_vec();
    if proof.is_empty() {
        return false;
    }
    if m.is_power_of_two() {
        proof.insert(0, *root1);
    }
    let (mut fnode, mut snode) = (m - 1, n - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let mut fr = proof[0];
    let mut sr = proof[0];
    for c in &proof[1..] {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    snode == 0 && fr == *root1 && sr == *root2
}

/// An in-memory node store (tests and fuzzing).
#[cfg(any(test, feature = "testing"))]
#[derive(Default)]
pub struct MemoryTree {
    frontier: Frontier,
    nodes: std::collections::HashMap<(u8, u64), Hash>,
}

#[cfg(any(test, feature = "testing"))]
impl MemoryTree {
    /// Appends a leaf's data.
    pub fn push_data(&mut self, data: &[u8]) {
        self.push(leaf_hash(data));
    }
    /// Appends a leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        for (l, i, h) in self.frontier.push(leaf) {
            self.nodes.insert((l, i), h);
        }
    }
    /// The current root.
    pub fn root(&self) -> Hash {
        self.frontier.root()
    }
    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.frontier.size
    }
}

#[cfg(any(test, feature = "testing"))]
impl NodeSource for MemoryTree {
    fn node(&self, level: u8, index: u64) -> Option<Hash> {
        self.nodes.get(&(level, index)).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference MTH straight from the RFC's recursive definition.
    fn mth(leaves: &[Vec<u8>]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaf_hash(&leaves[0]),
            n => {
                let k = largest_pow2_below(n as u64) as usize;
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    #[test]
    fn frontier_root_matches_reference_for_every_size() {
        let leaves: Vec<Vec<u8>> = (0..70u32).map(|i| i.to_le_bytes().to_vec()).collect();
        let mut t = MemoryTree::default();
        assert_eq!(t.root(), mth(&[]));
        for (i, l) in leaves.iter().enumerate() {
            t.push_data(l);
            assert_eq!(t.root(), mth(&leaves[..=i]), "size {}", i + 1);
            assert_eq!(range_hash(&t, 0, i as u64 + 1).unwrap(), t.root());
        }
    }

    #[test]
    fn every_proof_verifies_and_tampering_fails() {
        let mut t = MemoryTree::default();
        let mut roots = vec![empty_root()];
        for i in 0..33u32 {
            t.push_data(&i.to_le_bytes());
            roots.push(t.root());
        }
        for n in 1..=33u64 {
            let root = range_hash(&t, 0, n).unwrap();
            assert_eq!(root, roots[n as usize]);
            for m in 0..n {
                let leaf = t.node(0, m).unwrap();
                let p = inclusion_proof(&t, m, n).unwrap();
                assert!(verify_inclusion(m, n, &leaf, &p, &root), "incl {m} {n}");
                let mut extra = p.clone();
                extra.push(root);
                assert!(!verify_inclusion(m, n, &leaf, &extra, &root));
                if !p.is_empty() {
                    assert!(!verify_inclusion(m, n, &leaf, &p[..p.len() - 1], &root));
                }
            }
            for m in 1..=n {
                let p = consistency_proof(&t, m, n).unwrap();
                assert!(verify_consistency(m, n, &roots[m as usize], &root, &p), "cons {m} {n}");
                if m < n {
                    let mut extra = p.clone();
                    extra.push(root);
                    assert!(!verify_consistency(m, n, &roots[m as usize], &root, &extra));
                    assert!(!verify_consistency(m, n, &root, &roots[m as usize], &p));
                }
            }
        }
    }
}
