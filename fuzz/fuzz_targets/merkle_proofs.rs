//! Proof verifiers consume arbitrary proofs without panicking, and accept only real ones.
#![no_main]
use libfuzzer_sys::fuzz_target;
use medvault::testing::merkle::{self, MemoryTree, NodeSource};

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let n = (data[0] as u64 % 40) + 1;
    let m = data[1] as u64 % n;
    let mut tree = MemoryTree::default();
    for i in 0..n {
        tree.push_data(&i.to_le_bytes());
    }
    let root = tree.root();
    let leaf = tree.node(0, m).unwrap();
    let proof: Vec<[u8; 32]> = data[2..].chunks_exact(32).map(|c| c.try_into().unwrap()).collect();
    let real = merkle::inclusion_proof(&tree, m, n).unwrap();
    if merkle::verify_inclusion(m, n, &leaf, &proof, &root) {
        assert_eq!(proof, real, "a forged inclusion proof was accepted");
    }
    let old = m + 1;
    let old_root = merkle::range_hash(&tree, 0, old).unwrap();
    if merkle::verify_consistency(old, n, &old_root, &root, &proof) {
        assert_eq!(proof, merkle::consistency_proof(&tree, old, n).unwrap(), "a forged consistency proof was accepted");
    }
});
