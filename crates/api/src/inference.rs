//! Inference and what follows it: a paid run of a model with its receipt, receipts by id, a
//! contract's on-chain request, and the paying accounts (escrow, API keys).

use axum::{
    Json,
    extract::{Path, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use veritas_node::{
    store::Served,
    wire::{
        AccountBalance, ApiKeyCreated, ErrorBody, InferRequest, InferResponse, KeyOffer, KeyRequest, RequestStatus,
    },
};
use veritas_primitives::{Address, B256, Receipt};

use crate::{ApiError, auth::Paid, routes::AppState};

/// Runs a model; the answer carries a signed receipt, logged before it is sent.
///
/// Paid by the account the request authenticates as: an API key (`Authorization: Bearer vk_…`, from
/// `POST /v1/account/keys`) or an EIP-191 signature by the account over `veritas
/// request\nchain {chain id}\ngateway {gateway}\n{METHOD} {path}\n{unix seconds}\n{nonce}\n{hex
/// sha256(body)}` in `X-Veritas-Account`, `X-Veritas-Timestamp`, `X-Veritas-Nonce` and
/// `X-Veritas-Signature` (the chain id and gateway of `GET /v1/network`; accepted within 300 s
/// of the node's time, each nonce once). On the embedded development network a request naming no account is paid by
/// development account 1. The price is the model registry's price for the model id, or the
/// node's default for an unlisted model.
#[utoipa::path(post, path = "/v1/infer", tag = "inference", request_body = InferRequest, responses(
    (status = 200, description = "Outputs and receipt; header X-Veritas-Receipt holds the receipt id", body = InferResponse),
    (status = 400, description = "A bad request: the message names what is wrong", body = ErrorBody),
    (status = 401, description = "An unknown API key or a signature that does not hold", body = ErrorBody),
    (status = 402, description = "The paying account cannot cover the price: balance and price named", body = ErrorBody),
    (status = 404, description = "No such model", body = ErrorBody),
    (status = 413, description = "The body is too large", body = ErrorBody),
    (status = "5XX", description = "Inference, a worker or the chain failed", body = ErrorBody),
))]
pub(crate) async fn infer(State(state): State<AppState>, paid: Paid<InferRequest>) -> Result<Response, ApiError> {
    let response = state.node.infer(paid.body, paid.account).await?;
    let id = response.receipt_id.to_string();
    Ok(([(header::HeaderName::from_static("x-veritas-receipt"), id)], Json(response)).into_response())
}

/// An enclave's key for a confidential request (docs/tee.md, "Confidential requests"): its
/// RFC 9458 key configuration and the TEE evidence that binds it with the client's nonce. Check
/// the evidence under your own policy before sealing anything to the key, then send the sealed
/// request (`sealed` on `/v1/infer`, `veritas_sealed` on the chat endpoints) naming `worker`.
#[utoipa::path(post, path = "/v1/confidential/key", tag = "inference", request_body = KeyRequest, responses(
    (status = 200, description = "The key offer", body = KeyOffer),
    (status = 400, description = "A malformed nonce, or no enclave on this network", body = ErrorBody),
    (status = "5XX", description = "No inference node answered", body = ErrorBody),
))]
pub(crate) async fn confidential_key(
    State(state): State<AppState>,
    Json(asked): Json<KeyRequest>,
) -> Result<Json<KeyOffer>, ApiError> {
    Ok(Json(state.node.key_offer(&asked.nonce).await?))
}

/// A logged receipt, with its verdicts and settlement as they are added.
#[utoipa::path(get, path = "/v1/receipts/{id}", tag = "inference",
    params(("id" = String, Path, description = "The receipt id: 32 bytes of hex")),
    responses(
        (status = 200, description = "The receipt", body = veritas_node::wire::schema::Receipt),
        (status = 400, description = "Not a receipt id", body = ErrorBody),
        (status = 404, description = "No such receipt", body = ErrorBody),
    ))]
pub(crate) async fn receipt(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Receipt>, ApiError> {
    let id: B256 =
        id.parse().map_err(|_| ApiError::bad_request(format!("receipt id {id:?} is not 32 bytes of hex")))?;
    Ok(Json(state.node.core().receipt(&id).await?))
}

/// What this gateway did with a contract's on-chain request: served (with the receipt id),
/// refused (with the reason) or not seen yet.
#[utoipa::path(get, path = "/v1/requests/{id}", tag = "inference",
    params(("id" = u64, Path, description = "The on-chain request id")),
    responses(
        (status = 200, description = "The request's status", body = RequestStatus),
        (status = 400, description = "Not a request id, or not a gateway", body = ErrorBody),
    ))]
pub(crate) async fn contract_request(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<RequestStatus>, ApiError> {
    let request: u64 =
        id.parse().map_err(|_| ApiError::bad_request(format!("request id {id:?} is not a decimal number")))?;
    Ok(Json(match state.node.gateway()?.contract_request(request)? {
        Some(Served::Receipt(receipt_id)) => RequestStatus::Served { request, receipt_id },
        Some(Served::Refused(reason)) => RequestStatus::Refused { request, reason },
        None => RequestStatus::Unseen { request },
    }))
}

/// An API key for the account that signed the request (EIP-191); the key is shown once and
/// stored only as its hash.
#[utoipa::path(post, path = "/v1/account/keys", tag = "accounts", responses(
    (status = 201, description = "The new key", body = ApiKeyCreated),
    (status = 401, description = "The request is not signed by the account", body = ErrorBody),
))]
pub(crate) async fn create_key(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    paid: Paid<serde_json::Value>,
) -> Result<Response, ApiError> {
    let signed = headers.contains_key(veritas_primitives::request::SIGNATURE_HEADER);
    let (Some(account), true) = (paid.account, signed) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "creating an API key needs a request signed by the account (X-Veritas-Account, X-Veritas-Timestamp, X-Veritas-Nonce, X-Veritas-Signature)",
        ));
    };
    let api_key = state.node.core().create_api_key(account)?;
    Ok((StatusCode::CREATED, Json(ApiKeyCreated { account, api_key })).into_response())
}

/// An account's escrow on chain, what its unsettled requests commit, and what is free.
#[utoipa::path(get, path = "/v1/accounts/{address}", tag = "accounts",
    params(("address" = String, Path, description = "The account's address")),
    responses(
        (status = 200, description = "The balances", body = AccountBalance),
        (status = 400, description = "Not an address", body = ErrorBody),
        (status = "5XX", description = "The chain is unreachable", body = ErrorBody),
    ))]
pub(crate) async fn account(
    State(state): State<AppState>,
    Path(address): Path<String>,
) -> Result<Json<AccountBalance>, ApiError> {
    let account: Address =
        address.parse().map_err(|_| ApiError::bad_request(format!("{address:?} is not an address")))?;
    let (escrow, committed) = state.node.gateway()?.account(account).await?;
    Ok(Json(AccountBalance {
        account,
        escrow: escrow.to_string(),
        committed: committed.to_string(),
        available: escrow.saturating_sub(committed).to_string(),
    }))
}
