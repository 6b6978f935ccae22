//! veritas wire: every body the HTTP API takes and answers, and its errors, as types. The
//! server (`veritas-api`), the node's client of its peers and the CLI all speak through these,
//! so that a field renamed on one side is renamed on all of them.

mod network;
mod node;
mod work;

pub use network::{Member, Registry, Role};
pub use node::{Counts, Health};
pub use work::{
    BatchSignature, ChatInput, CheckMode, InferRequest, InferResponse, Judgement, WorkChat, WorkChatDone, WorkChatEvent,
};

use serde::{Deserialize, Serialize};

/// An error answer: `{"error": {"code", "message"}}` with a 4xx or 5xx status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The error of an [`ErrorBody`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// A stable, machine-readable code (`unknown_model`, `insufficient_funds`, …).
    pub code: String,
    /// A message for people.
    pub message: String,
}
