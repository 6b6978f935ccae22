//! The one mapping from errors to HTTP statuses and the JSON error body.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use veritas_node::{
    HubError, LlmError, NodeError, RuntimeError,
    wire::{ErrorBody, ErrorDetail},
};

/// An error answered as `{"error": {"code", "message"}}` with its status.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable, machine-readable code.
    pub code: &'static str,
    /// A message for people.
    pub message: String,
    /// When to try again, in seconds (`Retry-After`): for 429 and 503.
    pub retry_after: Option<u64>,
    /// With `insufficient_funds`: the figures.
    pub funds: Option<Box<veritas_node::wire::Funds>>,
}

impl ApiError {
    /// An error with a status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into(), retry_after: None, funds: None }
    }

    /// The error with `Retry-After: seconds` (at least 1).
    pub fn retry_after(mut self, seconds: u64) -> ApiError {
        self.retry_after = Some(seconds.max(1));
        self
    }

    /// A 400 for a request body that is not what the route takes.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }
}

impl From<NodeError> for ApiError {
    fn from(err: NodeError) -> ApiError {
        use StatusCode as S;
        let message = err.to_string();
        if let NodeError::InsufficientFunds { account, balance, committed, price } = &err {
            let funds = veritas_node::wire::Funds {
                account: account.to_string(),
                balance: balance.to_string(),
                committed: committed.to_string(),
                price: price.to_string(),
            };
            return ApiError {
                funds: Some(Box::new(funds)),
                ..ApiError::new(S::PAYMENT_REQUIRED, "insufficient_funds", message)
            };
        }
        if let NodeError::Overloaded { .. } = err {
            return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", err.to_string()).retry_after(1);
        }
        let (status, code) = match &err {
            NodeError::Hub(HubError::UnknownModel(_)) => (S::NOT_FOUND, "unknown_model"),
            NodeError::Hub(HubError::InvalidName { .. }) => (S::BAD_REQUEST, "invalid_name"),
            NodeError::Hub(HubError::InvalidTolerance(_)) => (S::BAD_REQUEST, "invalid_tolerance"),
            NodeError::Hub(HubError::TooLarge { .. }) => (S::PAYLOAD_TOO_LARGE, "too_large"),
            NodeError::Hub(HubError::NotOwner { .. }) => (S::FORBIDDEN, "not_owner"),
            NodeError::Hub(HubError::Integrity { .. } | HubError::ManifestMismatch { .. }) => {
                (S::INTERNAL_SERVER_ERROR, "integrity_failure")
            }
            NodeError::Hub(_) => (S::INTERNAL_SERVER_ERROR, "storage_error"),
            NodeError::Runtime(RuntimeError::Input(_)) => (S::BAD_REQUEST, "invalid_input"),
            NodeError::Runtime(RuntimeError::InvalidModel(_)) => (S::UNPROCESSABLE_ENTITY, "invalid_model"),
            NodeError::Runtime(_) => (S::INTERNAL_SERVER_ERROR, "inference_failed"),
            NodeError::UnsupportedMode { .. } | NodeError::ModeForModel { .. } => (S::BAD_REQUEST, "unsupported_mode"),
            NodeError::UnsupportedFormat { .. } => (S::UNPROCESSABLE_ENTITY, "unsupported_format"),
            NodeError::UnknownReceipt(_) => (S::NOT_FOUND, "unknown_receipt"),
            NodeError::InsufficientFunds { .. } => (S::PAYMENT_REQUIRED, "insufficient_funds"),
            NodeError::PaymentRequired | NodeError::UnknownApiKey => (S::UNAUTHORIZED, "unauthorized"),
            NodeError::NoChain => (S::NOT_FOUND, "no_chain"),
            NodeError::ForeignClaim { .. } => (S::BAD_REQUEST, "foreign_claim"),
            NodeError::Llm(LlmError::NotGguf | LlmError::Malformed(_) | LlmError::UnsupportedArchitecture { .. }) => {
                (S::UNPROCESSABLE_ENTITY, "invalid_model")
            }
            NodeError::NotAnLlm { .. } | NodeError::EmbeddingModel(_) => (S::BAD_REQUEST, "not_a_language_model"),
            NodeError::NoLanguageModels => (S::NOT_IMPLEMENTED, "no_language_models"),
            NodeError::Llm(
                LlmError::PromptTooLong { .. }
                | LlmError::InvalidSampling(_)
                | LlmError::InvalidMessages(_)
                | LlmError::InvalidGrammar(_),
            ) => (S::BAD_REQUEST, "invalid_request"),
            NodeError::Chain(veritas_node::chain::ChainError::Rpc(_) | veritas_node::chain::ChainError::Timeout(_)) => {
                (S::SERVICE_UNAVAILABLE, "chain_unavailable")
            }
            NodeError::Peer(_) | NodeError::BadWork { .. } | NodeError::HubMismatch { .. } => {
                (S::BAD_GATEWAY, "peer_failed")
            }
            NodeError::NoBatchQuorum { .. } => (S::BAD_GATEWAY, "peer_failed"),
            NodeError::NoWorkers(_) => (S::SERVICE_UNAVAILABLE, "no_workers"),
            NodeError::NotAValidator => (S::BAD_REQUEST, "not_a_validator"),
            NodeError::NotAGateway => (S::BAD_REQUEST, "not_a_gateway"),
            NodeError::NotAWorker => (S::BAD_REQUEST, "not_an_inference_node"),
            NodeError::BatchRefused(_) | NodeError::RequestRefused { .. } | NodeError::Unjudgeable(_) => {
                (S::UNPROCESSABLE_ENTITY, "refused")
            }
            NodeError::OtherCheck { .. } => (S::BAD_REQUEST, "other_check"),
            NodeError::PriceOverflow { .. } => (S::UNPROCESSABLE_ENTITY, "price_overflow"),
            NodeError::Cancelled => (S::BAD_REQUEST, "cancelled"),
            NodeError::BadNonce(_) | NodeError::BadQuantized(_) => (S::BAD_REQUEST, "bad_request"),
            NodeError::Confidential(_) => (S::BAD_REQUEST, "bad_confidential_request"),
            NodeError::Tee(_) => (S::INTERNAL_SERVER_ERROR, "tee_failed"),
            _ => (S::INTERNAL_SERVER_ERROR, "internal"),
        };
        if status.is_server_error() {
            tracing::error!(%message, "request failed");
        }
        ApiError::new(status, code, message)
    }
}

impl ApiError {
    /// The error as the JSON body says it.
    pub fn detail(&self) -> ErrorDetail {
        ErrorDetail {
            code: self.code.into(),
            message: self.message.clone(),
            funds: self.funds.as_deref().cloned(),
            retry_after: self.retry_after,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody { error: self.detail() };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(seconds));
        }
        response
    }
}
