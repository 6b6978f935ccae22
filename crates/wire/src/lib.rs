//! veritas wire: every body the HTTP API takes and answers, and its errors, as types. The
//! server (`veritas-api`), the node's client of its peers and the CLI all speak through these,
//! so that a field renamed on one side is renamed on all of them.

mod accounts;
mod confidential;
mod explorer;
mod models;
mod network;
mod node;
pub mod openai;
pub mod schema;
mod work;

pub use accounts::{AccountBalance, ApiKeyCreated, RequestStatus};

pub use confidential::{
    ConfidentialInput, ConfidentialOpening, KeyOffer, KeyRequest, SEALED_WINDOW, SealedAnswer, SealedRequest,
};
pub use explorer::{
    Activity, ClaimSummary, ClaimsPage, ClaimsQuery, Entry, Figures, FiguresQuery, Judged, Minute, NodeSummary,
    NodesPage, Origin,
};
pub use models::{ModelDetails, ModelEntry, ModelList, PushAnswer, PushQuery, VersionRef};
pub use network::{ChainInfo, ContractAddresses, Member, NetworkInfo, Registry, Role, TeePolicyInfo};
pub use node::{Counts, Health};
pub use work::{
    BatchSignature, ChatInput, CheckMode, InferRequest, InferResponse, JudgeMany, Judgement, JudgementOrError,
    Judgements, MAX_JUDGE_BATCH, WorkChat, WorkChatDone, WorkChatEvent,
};

use serde::{Deserialize, Serialize};

/// An error answer: `{"error": {"code", "message"}}` with a 4xx or 5xx status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The error of an [`ErrorBody`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// A stable, machine-readable code (`unknown_model`, `insufficient_funds`, …).
    pub code: String,
    /// A message for people.
    pub message: String,
    /// With `insufficient_funds`: the figures, for a program to read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub funds: Option<Funds>,
    /// With `rate_limited` and `overloaded`: seconds to wait before trying again (also the
    /// `Retry-After` header).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

/// Why a request cannot be paid: amounts in the token's smallest unit, as decimal strings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Funds {
    /// The paying account.
    pub account: String,
    /// Its escrow that this gateway may charge (its escrow, capped by its allowance).
    pub balance: String,
    /// What its unsettled requests already commit.
    pub committed: String,
    /// The price of this request.
    pub price: String,
}
