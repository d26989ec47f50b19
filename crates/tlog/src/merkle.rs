//! RFC 6962 §2.1 / RFC 9162 §2.1 Merkle trees. Hashes are stored as in C2SP `tlog-tiles`:
//! level `a` holds, at index `j`, the hash of the full subtree of `256^a` leaves starting at
//! leaf `j·256^a` (level 0: the leaf hashes). Every other subtree hash is computed from those
//! ([`full_subtree`]), so the same code serves a database, fetched tiles and tests.
//!
//! Proof computations take a [`Source`] of stored hashes. Callers that must fetch first
//! (over HTTP, from a database) run the computation once with [`Recorder`], which notes
//! every stored hash it asks for, fetch those, then run it again.

use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];

/// RFC 6962 §2.1: the hash of an entry (a leaf).
pub fn leaf_hash(entry: &[u8]) -> Hash {
    Sha256::new().chain_update([0u8]).chain_update(entry).finalize().into()
}

/// RFC 6962 §2.1: the hash of an interior node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    Sha256::new().chain_update([1u8]).chain_update(left).chain_update(right).finalize().into()
}

/// The root of the empty tree: SHA-256 of nothing.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Hashes per tile, and tile height in levels of the tree.
pub const TILE_WIDTH: u64 = 256;
pub const TILE_HEIGHT: u32 = 8;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("index {index} is not in a tree of size {size}")]
    OutOfRange { index: u64, size: u64 },
    #[error("a consistency proof needs 0 < old size ({old}) ≤ new size ({new})")]
    BadSizes { old: u64, new: u64 },
    #[error("the proof has the wrong number of hashes")]
    WrongLength,
    #[error("the proof does not lead to the root hash")]
    Mismatch,
    #[error("a stored hash is missing: level {level}, index {index}")]
    Missing { level: u32, index: u64 },
}

/// Stored hashes: `count` consecutive hashes of level `level` (see the module doc) from
/// `start`.
pub trait Source {
    fn hashes(&mut self, level: u32, start: u64, count: u64) -> Result<Vec<Hash>, ProofError>;
}

/// A [`Source`] that answers zeros and remembers what was asked: `(level, start, count)`.
#[derive(Debug, Default)]
pub struct Recorder {
    pub asked: Vec<(u32, u64, u64)>,
}

impl Source for Recorder {
    fn hashes(&mut self, level: u32, start: u64, count: u64) -> Result<Vec<Hash>, ProofError> {
        self.asked.push((level, start, count));
        Ok(vec![[0; 32]; count as usize])
    }
}

/// The stored hashes of a whole tree, level by level, computed from its leaf hashes (for
/// tests, benchmarks and verifiers that hold every leaf).
#[derive(Debug, Clone, Default)]
pub struct Levels(pub Vec<Vec<Hash>>);

impl Levels {
    pub fn from_leaves(leaves: Vec<Hash>) -> Levels {
        let mut levels = Levels(vec![Vec::new()]);
        for leaf in leaves {
            levels.push(leaf);
        }
        levels
    }

    /// Appends a leaf hash, adding the level hashes it completes.
    pub fn push(&mut self, leaf: Hash) {
        self.0[0].push(leaf);
        let mut level = 0;
        while (self.0[level].len() as u64).is_multiple_of(TILE_WIDTH) {
            let full = &self.0[level];
            let start = full.len() - TILE_WIDTH as usize;
            let hash = reduce(full[start..].to_vec());
            if self.0.len() == level + 1 {
                self.0.push(Vec::new());
            }
            self.0[level + 1].push(hash);
            level += 1;
        }
    }

    pub fn size(&self) -> u64 {
        self.0[0].len() as u64
    }
}

impl Source for Levels {
    fn hashes(&mut self, level: u32, start: u64, count: u64) -> Result<Vec<Hash>, ProofError> {
        let stored = self.0.get(level as usize).ok_or(ProofError::Missing { level, index: start })?;
        let end = start + count;
        if end as usize > stored.len() {
            return Err(ProofError::Missing { level, index: end - 1 });
        }
        Ok(stored[start as usize..end as usize].to_vec())
    }
}

/// Hashes a power-of-two run of sibling hashes pairwise up to one.
pub fn reduce(mut hashes: Vec<Hash>) -> Hash {
    while hashes.len() > 1 {
        hashes = hashes.chunks(2).map(|pair| node_hash(&pair[0], &pair[1])).collect();
    }
    hashes[0]
}

/// The hash of the full subtree of `2^height` leaves starting at leaf `index·2^height`.
pub fn full_subtree(source: &mut (impl Source + ?Sized), height: u32, index: u64) -> Result<Hash, ProofError> {
    let level = height / TILE_HEIGHT;
    let below = height % TILE_HEIGHT;
    let count = 1u64 << below;
    let hashes = source.hashes(level, index * count, count)?;
    if hashes.len() as u64 != count {
        return Err(ProofError::Missing { level, index: index * count });
    }
    Ok(reduce(hashes))
}

/// The largest power of two smaller than `n` (n ≥ 2).
fn split(n: u64) -> u64 {
    1u64 << (63 - (n - 1).leading_zeros())
}

/// RFC 6962 MTH(D[lo:hi]).
pub fn subtree(source: &mut (impl Source + ?Sized), lo: u64, hi: u64) -> Result<Hash, ProofError> {
    let n = hi - lo;
    if n == 0 {
        return Ok(empty_root());
    }
    if n.is_power_of_two() && lo.is_multiple_of(n) {
        return full_subtree(source, n.trailing_zeros(), lo / n);
    }
    let k = split(n);
    let left = subtree(source, lo, lo + k)?;
    let right = subtree(source, lo + k, hi)?;
    Ok(node_hash(&left, &right))
}

/// The root hash of the tree of the first `size` leaves.
pub fn tree_hash(source: &mut (impl Source + ?Sized), size: u64) -> Result<Hash, ProofError> {
    subtree(source, 0, size)
}

/// RFC 6962 §2.1.1 PATH(index, D[0:size]): from the leaf's sibling up to the root's child.
pub fn inclusion_proof(source: &mut (impl Source + ?Sized), index: u64, size: u64) -> Result<Vec<Hash>, ProofError> {
    if index >= size {
        return Err(ProofError::OutOfRange { index, size });
    }
    let mut proof = Vec::new();
    path(source, index, 0, size, &mut proof)?;
    Ok(proof)
}

fn path(
    source: &mut (impl Source + ?Sized),
    m: u64,
    lo: u64,
    hi: u64,
    proof: &mut Vec<Hash>,
) -> Result<(), ProofError> {
    let n = hi - lo;
    if n <= 1 {
        return Ok(());
    }
    let k = split(n);
    if m < lo + k {
        path(source, m, lo, lo + k, proof)?;
        proof.push(subtree(source, lo + k, hi)?);
    } else {
        path(source, m, lo + k, hi, proof)?;
        proof.push(subtree(source, lo, lo + k)?);
    }
    Ok(())
}

/// RFC 6962 §2.1.2 PROOF(old, D[0:new]).
pub fn consistency_proof(source: &mut (impl Source + ?Sized), old: u64, new: u64) -> Result<Vec<Hash>, ProofError> {
    if old == 0 || old > new {
        return Err(ProofError::BadSizes { old, new });
    }
    let mut proof = Vec::new();
    subproof(source, old, 0, new, true, &mut proof)?;
    Ok(proof)
}

fn subproof(
    source: &mut (impl Source + ?Sized),
    m: u64,
    lo: u64,
    hi: u64,
    whole: bool,
    proof: &mut Vec<Hash>,
) -> Result<(), ProofError> {
    let n = hi - lo;
    if m == n {
        if !whole {
            proof.push(subtree(source, lo, hi)?);
        }
        return Ok(());
    }
    let k = split(n);
    if m <= k {
        subproof(source, m, lo, lo + k, whole, proof)?;
        proof.push(subtree(source, lo + k, hi)?);
    } else {
        subproof(source, m - k, lo + k, hi, false, proof)?;
        proof.push(subtree(source, lo, lo + k)?);
    }
    Ok(())
}

/// RFC 9162 §2.1.3.2: checks that `leaf` is at `index` in the tree of `size` with `root`.
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::OutOfRange { index, size });
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return Err(ProofError::WrongLength);
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
        return Err(ProofError::WrongLength);
    }
    if &r == root { Ok(()) } else { Err(ProofError::Mismatch) }
}

/// RFC 9162 §2.1.4.2: checks that the tree (`old`, `old_root`) is a prefix of (`new`,
/// `new_root`).
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old == 0 || old > new {
        return Err(ProofError::BadSizes { old, new });
    }
    if old == new {
        return if proof.is_empty() && old_root == new_root {
            Ok(())
        } else if !proof.is_empty() {
            Err(ProofError::WrongLength)
        } else {
            Err(ProofError::Mismatch)
        };
    }
    let mut path: Vec<Hash> = proof.to_vec();
    if old.is_power_of_two() {
        path.insert(0, *old_root);
    }
    if path.is_empty() {
        return Err(ProofError::WrongLength);
    }
    let (mut fn_, mut sn) = (old - 1, new - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if sn == 0 {
            return Err(ProofError::WrongLength);
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
        return Err(ProofError::WrongLength);
    }
    if &fr == old_root && &sr == new_root { Ok(()) } else { Err(ProofError::Mismatch) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(h: &Hash) -> String {
        h.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The leaves of RFC 6962's reference tests (certificate-transparency-go,
    /// merkle/testonly): D[0] is empty, then 0x00, 0x10, 0x2021, …
    fn reference_leaves() -> Vec<Vec<u8>> {
        ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
            .iter()
            .map(|h| (0..h.len() / 2).map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap()).collect())
            .collect()
    }

    /// Roots of the first 1…8 reference leaves (RFC 6962 reference test vectors).
    const ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    #[test]
    fn roots_match_the_rfc_6962_reference_vectors() {
        assert_eq!(hex(&empty_root()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        let leaves: Vec<Hash> = reference_leaves().iter().map(|l| leaf_hash(l)).collect();
        for size in 1..=8 {
            let mut levels = Levels::from_leaves(leaves[..size].to_vec());
            assert_eq!(hex(&tree_hash(&mut levels, size as u64).unwrap()), ROOTS[size - 1], "size {size}");
        }
    }

    #[test]
    fn reference_inclusion_and_consistency_proofs() {
        let leaves: Vec<Hash> = reference_leaves().iter().map(|l| leaf_hash(l)).collect();
        let mut levels = Levels::from_leaves(leaves.clone());
        // Inclusion of leaf 0 in the tree of 8 (reference vector).
        let proof = inclusion_proof(&mut levels, 0, 8).unwrap();
        assert_eq!(
            proof.iter().map(hex).collect::<Vec<_>>(),
            [
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ]
        );
        // Consistency 1 → 8, 6 → 8, 2 → 5 (reference vectors).
        let proof = consistency_proof(&mut levels, 6, 8).unwrap();
        assert_eq!(
            proof.iter().map(hex).collect::<Vec<_>>(),
            [
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ]
        );
        let proof = consistency_proof(&mut levels, 2, 5).unwrap();
        assert_eq!(
            proof.iter().map(hex).collect::<Vec<_>>(),
            [
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ]
        );
    }

    #[test]
    fn every_proof_verifies_and_a_wrong_one_does_not() {
        // Enough leaves to cross tile boundaries at two levels' worth of stored hashes.
        let leaves: Vec<Hash> = (0u32..700).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let mut levels = Levels::from_leaves(leaves.clone());
        for size in [1u64, 2, 3, 255, 256, 257, 511, 512, 513, 700] {
            let mut naive = Levels(vec![leaves[..size as usize].to_vec()]);
            let root = tree_hash(&mut levels, size).unwrap();
            // The same root whether stored level hashes are used or only leaves.
            assert_eq!(root, naive_root(&leaves[..size as usize]), "size {size}");
            let _ = &mut naive;
            for index in [0, size / 2, size - 1] {
                let proof = inclusion_proof(&mut levels, index, size).unwrap();
                verify_inclusion(&leaves[index as usize], index, size, &proof, &root).unwrap();
                assert!(verify_inclusion(&leaves[(index as usize + 1) % 700], index, size, &proof, &root).is_err());
            }
            for old in [1u64, size / 3 + 1, size] {
                let old_root = tree_hash(&mut levels, old).unwrap();
                let proof = consistency_proof(&mut levels, old, size).unwrap();
                verify_consistency(old, size, &old_root, &root, &proof).unwrap();
                if old < size {
                    assert!(verify_consistency(old, size, &[7; 32], &root, &proof).is_err());
                }
            }
        }
    }

    fn naive_root(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split(n as u64) as usize;
                node_hash(&naive_root(&leaves[..k]), &naive_root(&leaves[k..]))
            }
        }
    }

    #[test]
    fn the_recorder_names_the_stored_hashes_a_proof_needs() {
        let mut recorder = Recorder::default();
        inclusion_proof(&mut recorder, 300, 70_000).unwrap();
        assert!(recorder.asked.iter().all(|(level, _, count)| *level <= 2 && *count <= 256));
        assert!(recorder.asked.iter().any(|(level, _, _)| *level == 1));
    }
}
