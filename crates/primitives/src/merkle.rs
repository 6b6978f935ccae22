//! A keccak-256 Merkle tree over claim digests, with inclusion proofs that Solidity checks.
//!
//! The form is OpenZeppelin's `MerkleProof.verify(proof, root, leaf)`:
//! - a leaf is `keccak256(abi.encode(claimDigest))`, i.e. the hash of the 32-byte digest, so a
//!   leaf (a 32-byte preimage) can never be confused with an inner node (a 64-byte preimage);
//! - an inner node is `keccak256(min(a, b) ‖ max(a, b))`: pairs are sorted, so a proof is just
//!   the list of siblings from the leaf up, with no left/right flags;
//! - on a level with an odd number of nodes the last one moves up unchanged.
//!
//! The root of an empty tree is zero.

use serde::{Deserialize, Serialize};

use crate::{B256, keccak256};

/// The leaf of a claim digest.
pub fn merkle_leaf(claim_digest: &B256) -> B256 {
    keccak256(claim_digest)
}

fn hash_pair(a: &B256, b: &B256) -> B256 {
    let (low, high) = if a <= b { (a, b) } else { (b, a) };
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(low.as_slice());
    buf[32..].copy_from_slice(high.as_slice());
    keccak256(buf)
}

/// A tree built over leaves, keeping every level so proofs are cheap.
#[derive(Clone, Debug)]
pub struct MerkleTree {
    levels: Vec<Vec<B256>>,
}

/// The siblings from a leaf up to the root.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MerkleProof(pub Vec<B256>);

impl MerkleTree {
    /// Builds the tree over the given leaves (see [`merkle_leaf`]), in order.
    pub fn new(leaves: Vec<B256>) -> MerkleTree {
        let mut levels = vec![leaves];
        while levels.last().is_some_and(|level| level.len() > 1) {
            let below = levels.last().map(Vec::as_slice).unwrap_or_default();
            let above = below
                .chunks(2)
                .map(|pair| match pair {
                    [a, b] => hash_pair(a, b),
                    [lone] => *lone,
                    _ => unreachable!("chunks(2) yields one or two items"),
                })
                .collect();
            levels.push(above);
        }
        MerkleTree { levels }
    }

    /// The root; zero for an empty tree.
    pub fn root(&self) -> B256 {
        self.levels.last().and_then(|level| level.first()).copied().unwrap_or(B256::ZERO)
    }

    /// The number of leaves.
    pub fn len(&self) -> usize {
        self.levels[0].len()
    }

    /// Whether the tree has no leaves.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The proof of the leaf at `index`, or `None` past the end.
    pub fn proof(&self, mut index: usize) -> Option<MerkleProof> {
        if index >= self.len() {
            return None;
        }
        let mut siblings = Vec::new();
        for level in &self.levels[..self.levels.len() - 1] {
            let sibling = index ^ 1;
            if sibling < level.len() {
                siblings.push(level[sibling]);
            }
            index /= 2;
        }
        Some(MerkleProof(siblings))
    }
}

impl MerkleProof {
    /// Whether this proof takes `leaf` to `root`.
    pub fn verify(&self, root: &B256, leaf: &B256) -> bool {
        self.0.iter().fold(*leaf, |node, sibling| hash_pair(&node, sibling)) == *root
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn leaves(n: usize) -> Vec<B256> {
        (0..n).map(|i| merkle_leaf(&keccak256((i as u64).to_le_bytes()))).collect()
    }

    #[test]
    fn empty_and_single() {
        assert_eq!(MerkleTree::new(vec![]).root(), B256::ZERO);
        let one = leaves(1);
        let tree = MerkleTree::new(one.clone());
        assert_eq!(tree.root(), one[0]);
        assert_eq!(tree.proof(0), Some(MerkleProof(vec![])));
        assert_eq!(tree.proof(1), None);
    }

    #[test]
    fn three_leaves_by_hand() {
        let l = leaves(3);
        let expected = hash_pair(&hash_pair(&l[0], &l[1]), &l[2]);
        let tree = MerkleTree::new(l.clone());
        assert_eq!(tree.root(), expected);
        assert_eq!(tree.proof(2).unwrap().0, vec![hash_pair(&l[0], &l[1])]);
    }

    proptest! {
        #[test]
        fn every_leaf_proves_and_no_other_does(n in 1usize..70, pick in any::<usize>()) {
            let l = leaves(n);
            let tree = MerkleTree::new(l.clone());
            for (i, leaf) in l.iter().enumerate() {
                prop_assert!(tree.proof(i).unwrap().verify(&tree.root(), leaf));
            }
            let i = pick % n;
            let outsider = merkle_leaf(&keccak256(b"not in the tree"));
            prop_assert!(!tree.proof(i).unwrap().verify(&tree.root(), &outsider));
        }
    }
}
