//! Proofs about the quantized executor: the field, the Fiat–Shamir transcript, multilinear
//! extensions, the sumcheck protocol (docs/zk.md, "Sumcheck") and a multilinear polynomial
//! commitment ([`pcs`], docs/zk.md, "Commitment").
//!
//! The base field is Goldilocks (`p = 2^64 - 2^32 + 1`) and challenges come from its degree-2
//! extension, both from Plonky3. [`Transcript`] is the only source of challenges and cannot be
//! made without absorbing a statement. [`matvec`] is the first use: `y = W·x` for int8 `W`, `x`.
//! [`logup`] proves range checks (the model prover's requantization and ReLU).
//! Pure: no I/O, no clock, no randomness; builds for `wasm32-unknown-unknown`.

pub mod encoding;
pub mod logup;
pub mod matvec;
pub mod mle;
pub mod model;
pub mod pcs;
pub mod sumcheck;
pub mod transcript;

pub use matvec::{MatVecProof, MatVecStatement};
pub use mle::Mle;
pub use pcs::{Commitment, CommitmentData, OpeningProof, PcsParams};
pub use sumcheck::{RoundPoly, SumcheckOutput, SumcheckProof};
pub use transcript::Transcript;

/// The base field, Goldilocks.
pub type F = p3_goldilocks::Goldilocks;
/// The challenge field, the degree-2 binomial extension of [`F`] (about 2^128 elements).
pub type EF = p3_field::extension::BinomialExtensionField<F, 2>;

/// What can go wrong proving or verifying.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZkError {
    /// A length that does not match the statement.
    #[error("{what}: expected {expected}, got {got}")]
    Length {
        /// What was measured.
        what: &'static str,
        /// The length the statement implies.
        expected: usize,
        /// The length found.
        got: usize,
    },
    /// A dimension beyond a limit, or zero.
    #[error("{what}: must be in 1..={limit}, got {got}")]
    Dimension {
        /// Which dimension.
        what: &'static str,
        /// The greatest accepted value.
        limit: usize,
        /// The value found.
        got: usize,
    },
    /// A round polynomial whose sum over {0, 1} is not the running claim.
    #[error("sumcheck round {round}: p(0) + p(1) is not the claimed sum")]
    RoundSum {
        /// The round, from 0.
        round: usize,
    },
    /// The final claim does not match the evaluations it must equal.
    #[error("final evaluation check failed: {0}")]
    FinalEvaluation(&'static str),
    /// The prover was asked to prove something false.
    #[error("statement is false at row {row}")]
    FalseStatement {
        /// The first row where `y` differs from `W·x`.
        row: usize,
    },
    /// A value above a limit.
    #[error("{what}: at most {limit}, got {got}")]
    TooLarge {
        /// What was measured.
        what: &'static str,
        /// The greatest accepted value.
        limit: usize,
        /// The value found.
        got: usize,
    },
    /// A commitment opening that fails a check (`pcs`), named.
    #[error("opening check failed: {0}")]
    Opening(&'static str),
    /// A proof-of-work witness that does not meet the difficulty.
    #[error("proof-of-work witness rejected")]
    ProofOfWork,
    /// An opened column that differs from an earlier query's column at the same index.
    #[error("opening query {query}: column differs from an earlier opening of the same index")]
    MerklePath {
        /// The query, from 0.
        query: usize,
    },
    /// Opened columns and Merkle siblings that do not lead to the committed root.
    #[error("opened columns and Merkle siblings do not lead to the committed root")]
    MerkleRoot,
    /// An opened column that does not match the encoding of the combined row.
    #[error("opening query {query}: column is not consistent with the combined row")]
    Column {
        /// The query, from 0.
        query: usize,
    },
    /// A model that cannot be proven about (invalid, or without parameters).
    #[error("model: {0}")]
    Model(String),
    /// A claimed output that is not where the proof's trace leads.
    #[error("the claimed output is not the one the proof's trace computes")]
    Output,
    /// A LogUp check that fails (`logup`), named.
    #[error("lookup check failed: {0}")]
    Lookup(&'static str),
    /// A GKR layer whose sumcheck's final claim is not the combination of the child values.
    #[error("gkr layer {layer}: the final claim is not the combination of the child values")]
    GkrLayer {
        /// The layer, from 0 at the root.
        layer: usize,
    },
    /// A layer's requantization remainders that do not recompose from their committed limbs.
    #[error("layer {layer}: the accumulators' distances to the output's thresholds are not their limbs")]
    Requantization {
        /// The layer's index in the network.
        layer: usize,
    },
    /// Bytes that are not the canonical encoding of a proof (`encoding`).
    #[error("malformed proof encoding: {0}")]
    Decode(String),
    /// A verifying key whose commitment parameters give less proven soundness than required
    /// (`model::bounds`), refused before anything runs.
    #[error("the key's parameters give {bits} bits of proven soundness, at least {required} are required")]
    Insecure {
        /// The key's proven soundness, in whole bits (rounded down).
        bits: u32,
        /// The least accepted.
        required: u32,
    },
    /// A verifying key whose proofs would take more work or memory to verify than the budget
    /// (`model::bounds`), refused before anything runs.
    #[error("verifying this key's proofs takes an estimated {estimate} {what}, above the budget of {budget}")]
    OverBudget {
        /// What was estimated: `work units` or `bytes of memory`.
        what: &'static str,
        /// The estimate (saturating at `u64::MAX`).
        estimate: u64,
        /// The budget.
        budget: u64,
    },
}

/// The result of a proof operation.
pub type ZkResult<T> = Result<T, ZkError>;

/// `log2(len)` for a power-of-two `len`, else [`ZkError::Length`] naming `what`.
pub(crate) fn log2_exact(what: &'static str, len: usize) -> ZkResult<usize> {
    if len.is_power_of_two() {
        Ok(len.trailing_zeros() as usize)
    } else {
        Err(ZkError::Length { what, expected: len.next_power_of_two(), got: len })
    }
}

/// [`ZkError::Length`] unless `got == expected`.
pub(crate) fn check_len(what: &'static str, expected: usize, got: usize) -> ZkResult<()> {
    if expected == got { Ok(()) } else { Err(ZkError::Length { what, expected, got }) }
}
