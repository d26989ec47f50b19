//! Transparency-log primitives, pure (no I/O): what llave's audit log, its verifier and its
//! witness share with any other implementation of the same public formats.
//!
//! - [`merkle`]: RFC 6962 / RFC 9162 hashing (leaf `SHA-256(0x00 ‖ entry)`, node
//!   `SHA-256(0x01 ‖ left ‖ right)`), tree hashes, inclusion and consistency proofs and
//!   their verification, over any source of stored hashes.
//! - [`tiles`]: C2SP `tlog-tiles` (tiles of 256 hashes, paths such as `tile/1/x001/234.p/7`,
//!   entry bundles).
//! - [`note`]: C2SP `signed-note` with Ed25519 keys, and the `tlog-checkpoint` body.
//! - [`proof`]: C2SP `tlog-proof` (index, inclusion proof, checkpoint).
//! - [`witness`]: C2SP `tlog-witness` add-checkpoint and `tlog-cosignature` (Ed25519).

pub mod merkle;
pub mod note;
pub mod proof;
pub mod tiles;
pub mod witness;

pub use merkle::{Hash, leaf_hash, node_hash};
