//! veritas primitives: model ids, hashes, tensor values, claims, receipts, signatures and Merkle trees.
//!
//! Everything here is pure: no I/O, no clock, no randomness. The `signer` feature adds signing with a
//! secp256k1 key; without it the crate only verifies, which is what the `verifier` crate needs.

mod abi;
pub mod batch;
pub mod call;
mod check;
mod claim;
mod error;
mod merkle;
mod model_id;
pub mod publish;
mod receipt;
pub mod request;
mod schema;
#[cfg(feature = "signer")]
mod signer;
pub mod tolerance;
mod validators;
pub mod values;
pub mod verdict;

pub use abi::is_settled_calldata;
pub use alloy_primitives::{Address, B256, U256, hex, keccak256, utils::format_units};

pub use check::Check;
pub use claim::{Claim, ClaimDomain, Mode, SignedClaim, recover_signer, recover_signer_bytes};
pub use error::{PrimitiveError, PrimitiveResult};
pub use merkle::{MerkleProof, MerkleTree, merkle_leaf};
pub use model_id::ModelId;
pub use receipt::{Evidence, RECEIPT_VERSION, Receipt, ReceiptBody, Settlement, Verdict};
pub use schema::{Schema, TensorSpec};
#[cfg(feature = "signer")]
pub use signer::WorkerKey;
pub use tolerance::Tolerance;
pub use validators::{RegistrySnapshot, ValidatorSet};
pub use values::{DType, MapKey, Params, Tensor, TensorData, Value, Values};
