//! The explorer's data as the API answers it: claims on a node's timeline, the network's
//! figures over a window, and the registered nodes with what they did.

use alloy_primitives::U256;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use veritas_primitives::{Address, B256};

/// How a claim came into the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// A paid request, queued for verdicts and batch settlement.
    Request,
    /// A contract's on-chain request.
    Contract,
    /// Recorded only: an inference node's own claim, which its gateway queues.
    Recorded,
}

/// What the log knows of a claim's verification, from its own tables (no receipt decoded).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Judged {
    /// Waiting for a quorum of verdicts.
    Pending,
    /// A quorum found it valid.
    Valid,
    /// A quorum found it invalid.
    Invalid,
    /// Not judged here (an inference node's own record).
    NotHere,
}

/// One claim on the timeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Entry {
    /// Its position: later claims have larger ones.
    pub position: u64,
    /// The receipt id.
    #[schema(value_type = crate::schema::Hash32)]
    pub id: B256,
    /// When it was logged, Unix milliseconds.
    pub logged_ms: u64,
    /// From the request's arrival to the signed claim, microseconds.
    pub latency_us: u64,
    /// How it came in.
    pub origin: Origin,
    /// Its verification so far.
    pub judged: Judged,
}

/// What one node did, as this log counts it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Activity {
    /// Claims it signed as a worker.
    pub claims: u64,
    /// Its verdicts that counted in a quorum and said valid.
    pub verdicts_valid: u64,
    /// Its verdicts that counted in a quorum and said invalid.
    pub verdicts_invalid: u64,
}

/// One claim, as the explorer lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ClaimSummary {
    /// Its place on the timeline.
    #[serde(flatten)]
    pub entry: Entry,
    /// The model's name and version, when the receipt names them.
    pub model: Option<String>,
    /// The model version's id (its digest).
    #[schema(value_type = crate::schema::Hash32)]
    pub model_id: B256,
    /// The claim's mode.
    #[schema(value_type = crate::schema::Mode)]
    pub mode: veritas_primitives::Mode,
    /// The worker that signed it.
    #[schema(value_type = crate::schema::Address)]
    pub worker: Address,
    /// Verdicts that said valid, and invalid.
    pub verdicts: (usize, usize),
    /// The settlement transaction, when settled.
    #[schema(value_type = Option<crate::schema::Hash32>)]
    pub transaction: Option<B256>,
}

/// Claims in one minute.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Minute {
    /// The minute's start, Unix milliseconds.
    pub start_ms: u64,
    /// Claims logged.
    pub calls: u64,
    /// Of those, judged valid by a quorum.
    pub valid: u64,
    /// Of those, judged invalid by a quorum.
    pub invalid: u64,
}

/// The network's figures over a window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Figures {
    /// The window, minutes, oldest first.
    pub minutes: Vec<Minute>,
    /// Claims in the window.
    pub calls: u64,
    /// Of those judged, the share judged valid (none judged: `None`).
    pub share_verified: Option<f64>,
    /// Claims a quorum judged invalid, in the window.
    pub invalid: u64,
    /// Claims still waiting for a quorum, in the window.
    pub pending: u64,
    /// The median time from a request's arrival to its signed claim, milliseconds.
    pub median_latency_ms: Option<f64>,
    /// Claims in the whole log's timeline.
    pub all_time: u64,
    /// Disputes opened on chain (see `chain_since`).
    pub disputes: Option<u64>,
    /// Slashes on chain.
    pub slashes: Option<u64>,
    /// The first block the dispute and slash counts cover.
    pub chain_since: Option<u64>,
}

/// One registered node, with what it did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NodeSummary {
    /// Its signing key.
    #[schema(value_type = crate::schema::Address)]
    pub signer: Address,
    /// What it does.
    pub role: crate::Role,
    /// Where it listens.
    pub endpoint: String,
    /// Its stake, in the token's smallest unit.
    #[schema(value_type = crate::schema::Amount)]
    pub stake: U256,
    /// Claims it signed, verdicts it gave, as this node's log counts them.
    pub activity: Activity,
    /// Times it was slashed, and the amount in all.
    #[schema(value_type = (u64, crate::schema::Amount))]
    pub slashes: (u64, U256),
    /// How long it has been up, seconds, when it answered.
    pub uptime_s: Option<u64>,
    /// Why it did not answer, when it did not.
    pub down: Option<String>,
}

/// `GET /v1/explorer/claims`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ClaimsPage {
    /// The claims, newest first.
    pub claims: Vec<ClaimSummary>,
}

/// `GET /v1/explorer/nodes`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NodesPage {
    /// The registered nodes.
    pub nodes: Vec<NodeSummary>,
}

/// `GET /v1/explorer/claims`'s query.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ClaimsQuery {
    /// How many claims, newest first (at most 100, fewer when their receipts are large; 50 if
    /// absent).
    pub limit: Option<usize>,
    /// Only claims before this timeline position.
    pub before: Option<u64>,
}

/// `GET /v1/explorer/figures`'s query.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FiguresQuery {
    /// The window, in minutes (at most a day; an hour if absent).
    pub minutes: Option<u64>,
}
