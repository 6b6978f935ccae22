//! A node about itself: its health (`GET /healthz`) with what it has done.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use veritas_primitives::Address;

/// What a node has done, for `veritas network status`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Counts {
    /// Receipts in its claim log.
    pub claims_logged: u64,
    /// Claims waiting for a quorum of verdicts.
    pub awaiting_verdicts: u64,
    /// Receipts waiting for settlement.
    pub pending_settlement: u64,
    /// "valid" verdicts it signed as a validator.
    pub verdicts_valid: u64,
    /// "invalid" verdicts it signed as a validator.
    pub verdicts_invalid: u64,
    /// Claims whose quorum said valid (gateway).
    pub quorums_valid: u64,
    /// Claims whose quorum said invalid (gateway).
    pub quorums_invalid: u64,
    /// Disputes it opened (gateway).
    pub disputes_opened: u64,
    /// Validators slashed for verdicts against the quorum (gateway).
    pub validators_slashed: u64,
    /// Workers slashed for claims a quorum judged invalid (gateway).
    pub workers_slashed: u64,
    /// Verdicts refused (bad signature, wrong claim, not staked, no answer).
    pub verdicts_refused: u64,
    /// The median time from a claim's log write to its quorum, milliseconds.
    pub verdict_ms_p50: Option<u64>,
    /// The 90th percentile of that time, milliseconds.
    pub verdict_ms_p90: Option<u64>,
    /// The share of its verdicts that re-executed the claim, percent.
    pub reexecuted_percent: Option<u64>,
}

/// A node's health (`GET /healthz`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// Always `ok` when it answers.
    pub status: String,
    /// The node's version.
    pub version: String,
    /// What it was started as: standalone, gateway, inference or validator.
    pub role: String,
    /// Its key.
    #[schema(value_type = crate::schema::Address)]
    pub key: Address,
    /// Its key again, as older clients read it.
    #[schema(value_type = crate::schema::Address)]
    pub worker: Address,
    /// The chain its claims are signed for.
    pub chain_id: u64,
    /// Receipts in its claim log.
    pub claims_logged: u64,
    /// What it has done.
    pub counts: Counts,
    /// How long it has been up, seconds.
    pub uptime_s: u64,
}
