//! What nodes ask of each other: a validator's verdict on a claim and its signature on a batch,
//! and an inference node's streamed chat for a gateway.

use std::{convert::Infallible, ops::ControlFlow};

use axum::{
    Json,
    extract::{Query, State},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use veritas_node::{
    BatchToSign,
    wire::{
        BatchSignature, CheckMode, ErrorBody, JudgeMany, Judgement, JudgementOrError, Judgements, KeyOffer, KeyRequest,
        MAX_JUDGE_BATCH, WorkChat, WorkChatDone, WorkChatEvent,
    },
};
use veritas_primitives::Receipt;

use crate::{ApiError, auth::FromGateway, routes::AppState};

/// `POST /v1/verdicts`'s query.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct VerdictQuery {
    /// The check expected (`signed`, `reexec`, `tee`, `zk`); the check always follows from the
    /// claim (`reexec` claims in the sampled share re-executed, `tee` and `zk` evidence always
    /// checked, the rest `signed`), and naming another one is refused (400, nothing signed).
    #[serde(default)]
    #[param(value_type = Option<String>)]
    check: Option<CheckMode>,
}

/// This node, as a validator, checks the receipt in the body and answers with its signed
/// verdict: one per claim, the same on every ask.
#[utoipa::path(post, path = "/v1/verdicts", tag = "verification", params(VerdictQuery),
    request_body(content = veritas_node::wire::schema::Receipt, description = "The receipt to judge"),
    responses(
        (status = 200, description = "The signed verdict and why", body = Judgement),
        (status = 400, description = "Not a receipt, another network's claim, another check than the claim's, or not a validator", body = ErrorBody),
        (status = 422, description = "The receipt does not hold by itself (signature, data, evidence): no verdict", body = ErrorBody),
    ))]
pub(crate) async fn verdict(
    State(state): State<AppState>,
    query: Result<Query<VerdictQuery>, axum::extract::rejection::QueryRejection>,
    call: FromGateway,
) -> Result<Json<Judgement>, ApiError> {
    let Query(query) = query
        .map_err(|err| ApiError::bad_request(format!("{}; expected ?check=signed|reexec|tee|zk", err.body_text())))?;
    let receipt: Receipt =
        serde_json::from_slice(&call.body).map_err(|err| ApiError::bad_request(format!("not a receipt: {err}")))?;
    Ok(Json(state.node.validator()?.judge(&receipt, query.check).await?))
}

/// This node, as a validator, judges many claims at once (at most 128): each answer is what
/// `POST /v1/verdicts` would answer for that receipt, a judgement or an error.
#[utoipa::path(post, path = "/v1/verdicts/batch", tag = "verification", request_body = JudgeMany,
    responses(
        (status = 200, description = "One answer per receipt, in order", body = Judgements),
        (status = 400, description = "Not a list of receipts, too many, or not a validator", body = ErrorBody),
    ))]
pub(crate) async fn verdicts(State(state): State<AppState>, call: FromGateway) -> Result<Json<Judgements>, ApiError> {
    let asked: JudgeMany =
        serde_json::from_slice(&call.body).map_err(|err| ApiError::bad_request(format!("not receipts: {err}")))?;
    if asked.receipts.len() > MAX_JUDGE_BATCH {
        return Err(ApiError::bad_request(format!(
            "{} receipts: at most {MAX_JUDGE_BATCH} are judged at once",
            asked.receipts.len()
        )));
    }
    let validator = state.node.validator()?;
    let answers = validator
        .judge_many(&asked.receipts)
        .await
        .into_iter()
        .map(|outcome| match outcome {
            Ok(judgement) => JudgementOrError { judgement: Some(judgement), error: None },
            Err(err) => {
                let err = ApiError::from(err);
                JudgementOrError { judgement: None, error: Some(err.detail()) }
            }
        })
        .collect();
    Ok(Json(Judgements { answers }))
}

/// This node, as a validator, signs a batch whose every claim carries a quorum of "valid"
/// verdicts, whose root is its claims' Merkle root and whose transfers balance.
#[utoipa::path(post, path = "/v1/batches/sign", tag = "verification",
    request_body(content = Object, description = "The batch: `{\"root\", \"claims\": [{\"id\", \"verdicts\"}], \"debits\", \"credits\"}`"),
    responses(
        (status = 200, description = "The validator's signature", body = BatchSignature),
        (status = 422, description = "Refused: the reason is named", body = ErrorBody),
    ))]
pub(crate) async fn sign_batch(
    State(state): State<AppState>,
    call: FromGateway,
) -> Result<Json<BatchSignature>, ApiError> {
    let batch: BatchToSign =
        serde_json::from_slice(&call.body).map_err(|err| ApiError::bad_request(format!("not a batch: {err}")))?;
    Ok(Json(state.node.validator()?.sign_batch(call.gateway, &batch).await?))
}

/// A gateway's chat request to this inference node, answered as newline-delimited JSON
/// events: text pieces, then the generation with its signed receipt.
#[utoipa::path(post, path = "/v1/work/chat", tag = "verification", request_body = WorkChat, responses(
    (status = 200, description = "One `WorkChatEvent` per line", content_type = "application/x-ndjson", body = WorkChatEvent),
    (status = 400, description = "A malformed request, or not an inference node", body = ErrorBody),
))]
pub(crate) async fn work_chat(State(state): State<AppState>, call: FromGateway) -> Result<Response, ApiError> {
    let work: WorkChat = serde_json::from_slice(&call.body)
        .map_err(|err| ApiError::bad_request(format!("malformed work request: {err}")))?;
    let worker = state.node.worker()?.clone();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<WorkChatEvent>();
    let text_tx = tx.clone();
    tokio::spawn(async move {
        let on_text = move |text: &str| match text_tx.send(WorkChatEvent::Text(text.to_owned())) {
            Ok(()) => ControlFlow::Continue(()),
            Err(_) => ControlFlow::Break(()),
        };
        let event = match worker.work_chat(work, on_text).await {
            Ok(answer) => WorkChatEvent::Done(Box::new(WorkChatDone {
                generation: answer.generation,
                pieces: answer.pieces,
                top_pieces: answer.top_pieces,
                receipt: answer.receipt,
                sealed: answer.sealed,
            })),
            Err(err) => WorkChatEvent::Error(err.to_string()),
        };
        let _ = tx.send(event);
    });
    let lines = futures_util::stream::unfold(rx, |mut rx| async move {
        let event = rx.recv().await?;
        let mut line = serde_json::to_vec(&event).unwrap_or_default();
        line.push(b'\n');
        Some((Ok::<_, Infallible>(axum::body::Bytes::from(line)), rx))
    });
    Ok(([(axum::http::header::CONTENT_TYPE, "application/x-ndjson")], axum::body::Body::from_stream(lines))
        .into_response())
}

/// A gateway asks this inference node for its enclave's key offer, for a client's nonce.
#[utoipa::path(post, path = "/v1/work/key", tag = "verification", request_body = KeyRequest, responses(
    (status = 200, description = "The key configuration and the evidence that binds it with the nonce", body = KeyOffer),
    (status = 400, description = "A malformed nonce, no enclave, or not an inference node", body = ErrorBody),
))]
pub(crate) async fn work_key(State(state): State<AppState>, call: FromGateway) -> Result<Json<KeyOffer>, ApiError> {
    let asked: KeyRequest = serde_json::from_slice(&call.body)
        .map_err(|err| ApiError::bad_request(format!("malformed key request: {err}")))?;
    Ok(Json(state.node.worker()?.key_offer(&asked.nonce).await?))
}
