//! RFC 6962 / RFC 9162 reference vectors, and every corruption a verifier must reject.

use medvault::testing::merkle::{self, Hash, MemoryTree};
use serde_json::Value;

fn h(s: &Value) -> Hash {
    hex::decode(s.as_str().unwrap()).unwrap().try_into().unwrap()
}

fn vectors() -> Value {
    serde_json::from_str(include_str!("data/rfc6962-merkle-vectors.json")).unwrap()
}

fn tree() -> MemoryTree {
    let mut t = MemoryTree::default();
    for leaf in vectors()["leaf_inputs_hex"].as_array().unwrap() {
        t.push_data(&hex::decode(leaf.as_str().unwrap()).unwrap());
    }
    t
}

#[test]
fn roots_for_every_size_match() {
    let v = vectors();
    let t = tree();
    let roots = v["root_by_tree_size"].as_array().unwrap();
    assert_eq!(roots.len(), 9);
    for (size, root) in roots.iter().enumerate() {
        assert_eq!(merkle::range_hash(&t, 0, size as u64).unwrap(), h(root), "size {size}");
    }
}

#[test]
fn inclusion_proofs_verify_and_every_corruption_is_rejected() {
    let v = vectors();
    let t = tree();
    let cases = v["inclusion_proofs"].as_array().unwrap();
    assert!(!cases.is_empty());
    for c in cases {
        let m = c["leaf_index"].as_u64().unwrap();
        let n = c["tree_size"].as_u64().unwrap();
        let leaf = merkle::leaf_hash(&hex::decode(c["leaf_input"].as_str().unwrap()).unwrap());
        let root = h(&c["root"]);
        let proof: Vec<Hash> = c["proof"].as_array().unwrap().iter().map(h).collect();
        assert_eq!(merkle::inclusion_proof(&t, m, n).unwrap(), proof, "our proof for {m} in {n}");
        assert!(merkle::verify_inclusion(m, n, &leaf, &proof, &root), "{m} in {n}");
        // leaf index off by one either way, or xor 2
        for bad_m in [m.wrapping_sub(1), m + 1, m ^ 2] {
            if bad_m != m {
                assert!(!merkle::verify_inclusion(bad_m, n, &leaf, &proof, &root), "index {bad_m}");
            }
        }
        // tree size doubled or halved
        for bad_n in [n * 2, n / 2] {
            assert!(!merkle::verify_inclusion(m, bad_n, &leaf, &proof, &root), "size {bad_n}");
        }
        // wrong leaf hash
        assert!(!merkle::verify_inclusion(m, n, &merkle::leaf_hash(b"forged"), &proof, &root));
        // root of the empty tree or a random root
        assert!(!merkle::verify_inclusion(m, n, &leaf, &proof, &merkle::empty_root()));
        assert!(!merkle::verify_inclusion(m, n, &leaf, &proof, &[0x5A; 32]));
        // an empty element or the root appended / prepended
        for extra in [[0u8; 32], root] {
            let mut p = proof.clone();
            p.push(extra);
            assert!(!merkle::verify_inclusion(m, n, &leaf, &p, &root));
            let mut p = proof.clone();
            p.insert(0, extra);
            assert!(!merkle::verify_inclusion(m, n, &leaf, &p, &root));
        }
        // any single bit flipped in any element
        for i in 0..proof.len() {
            for bit in 0..256 {
                let mut p = proof.clone();
                p[i][bit / 8] ^= 1 << (bit % 8);
                assert!(!merkle::verify_inclusion(m, n, &leaf, &p, &root), "bit {bit} of element {i}");
            }
        }
        // last element removed, an extra inserted in the middle
        if !proof.is_empty() {
            assert!(!merkle::verify_inclusion(m, n, &leaf, &proof[..proof.len() - 1], &root));
            let mut p = proof.clone();
            p.insert(proof.len() / 2, proof[0]);
            assert!(!merkle::verify_inclusion(m, n, &leaf, &p, &root));
        }
    }
}

#[test]
fn consistency_proofs_verify_and_every_corruption_is_rejected() {
    let v = vectors();
    let t = tree();
    let cases = v["consistency_proofs"].as_array().unwrap();
    assert!(!cases.is_empty());
    for c in cases {
        let (m, n) = (c["size1"].as_u64().unwrap(), c["size2"].as_u64().unwrap());
        let (r1, r2) = (h(&c["root1"]), h(&c["root2"]));
        let proof: Vec<Hash> = c["proof"].as_array().unwrap().iter().map(h).collect();
        assert_eq!(merkle::consistency_proof(&t, m, n).unwrap(), proof, "our proof {m}->{n}");
        assert!(merkle::verify_consistency(m, n, &r1, &r2, &proof), "{m}->{n}");
        // size1 or size2 changed: with the true roots of the claimed sizes, the proof is
        // accepted only where it is exactly the proof for those sizes.
        let roots = v["root_by_tree_size"].as_array().unwrap();
        for (bm, bn) in [(m + 1, n), (m.wrapping_sub(1), n), (m, n + 1), (m, n - 1)] {
            if (bm, bn) == (m, n) {
                continue;
            }
            let real = (bm >= 1 && bm <= bn && bn <= 8).then(|| merkle::consistency_proof(&t, bm, bn).unwrap());
            let (rm, rn) = match real {
                Some(_) => (h(&roots[bm as usize]), h(&roots[bn as usize])),
                None => (r1, r2),
            };
            let accepted = merkle::verify_consistency(bm, bn, &rm, &rn, &proof);
            assert_eq!(accepted, real.as_ref() == Some(&proof), "{bm}->{bn}");
        }
        // roots swapped
        if r1 != r2 {
            assert!(!merkle::verify_consistency(m, n, &r2, &r1, &proof));
        }
        // an empty proof where one is needed
        if !proof.is_empty() {
            assert!(!merkle::verify_consistency(m, n, &r1, &r2, &[]));
            assert!(!merkle::verify_consistency(m, n, &r1, &r2, &proof[..proof.len() - 1]), "truncated");
        }
        // trailing or leading extra elements
        for extra in [[0u8; 32], r2] {
            let mut p = proof.clone();
            p.push(extra);
            assert!(!merkle::verify_consistency(m, n, &r1, &r2, &p));
            let mut p = proof.clone();
            p.insert(0, extra);
            assert!(!merkle::verify_consistency(m, n, &r1, &r2, &p));
        }
        // any bit flipped
        for i in 0..proof.len() {
            let mut p = proof.clone();
            p[i][0] ^= 1;
            assert!(!merkle::verify_consistency(m, n, &r1, &r2, &p));
        }
        // time travel: from the larger size to the smaller one
        if m < n {
            assert!(!merkle::verify_consistency(n, m, &r2, &r1, &proof));
        }
    }
    assert!(!v["must_reject"].as_array().unwrap().is_empty());
}
