//! The error type of the chain crate.

use alloy_primitives::Bytes;

/// What went wrong executing on the chain.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The transaction reverted; `reason` is the decoded custom error or revert string.
    #[error("reverted: {reason}")]
    Reverted {
        /// The decoded reason.
        reason: String,
        /// The raw revert data.
        data: Bytes,
        /// Gas used until the revert.
        gas_used: u64,
    },
    /// The EVM halted (out of gas, invalid opcode, …).
    #[error("halted: {0}")]
    Halted(String),
    /// The EVM refused the transaction before executing it (nonce, balance, …).
    #[error("invalid transaction: {0}")]
    Invalid(String),
    /// The embedded chain's database failed.
    #[error("chain storage: {0}")]
    Storage(String),
    /// A raw transaction that cannot be accepted; the message names what is wrong.
    #[error("transaction rejected: {0}")]
    Rejected(String),
    /// A JSON-RPC endpoint could not be reached or answered something that is not JSON-RPC.
    #[error("JSON-RPC: {0}")]
    Rpc(String),
    /// Waiting for the chain took too long.
    #[error("timed out: {0}")]
    Timeout(String),
    /// A contract artifact or a return value could not be decoded.
    #[error("decoding: {0}")]
    Decode(String),
}

/// Result alias of the chain crate.
pub type ChainResult<T> = Result<T, ChainError>;

impl ChainError {
    /// Whether the chain could not be reached or did not answer in time (rather than that it
    /// refused): the same call may succeed once it is back.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, ChainError::Rpc(_) | ChainError::Timeout(_))
    }

    /// Whether a call reverted with `reason` (a custom error's name or a revert string), as an
    /// idempotent repeat of something done already does.
    pub fn reverted_with(&self, reason: &str) -> bool {
        matches!(self, ChainError::Reverted { reason: r, .. } if r.contains(reason))
    }
}
