//! The routes.

use std::{future::Future, sync::Arc};

use axum::{
    Json, Router,
    body::Body,
    extract::{DefaultBodyLimit, Path, Query, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{Value as Json_, json};
use veritas_node::{InferRequest, ModelFormat, ModelVersion, Node, PushRequest, Tolerance};
use veritas_primitives::B256;

use crate::{ApiError, auth::Paid};

/// The OpenAPI document served at `/openapi.json`.
const OPENAPI: &str = include_str!("../openapi.json");

/// Limits of the API.
#[derive(Clone, Debug)]
pub struct ApiConfig {
    /// The largest JSON request body, in bytes.
    pub max_json_bytes: usize,
}

impl Default for ApiConfig {
    fn default() -> ApiConfig {
        ApiConfig { max_json_bytes: 16 << 20 }
    }
}

type AppState = Arc<Node>;

/// The router over a node.
pub fn router(node: Arc<Node>, config: &ApiConfig) -> Router {
    let rpc = node.chain().map(crate::chain_router);
    let router = Router::new()
        .route("/v1/models", get(list_models).post(push_model).layer(DefaultBodyLimit::disable()))
        .route("/v1/models/{reference}", get(show_model))
        .route("/v1/models/{reference}/content", get(pull_model))
        .route("/v1/infer", axum::routing::post(infer))
        .route("/v1/chat/completions", axum::routing::post(crate::openai::chat))
        .route("/v1/completions", axum::routing::post(crate::openai::completion))
        .route("/v1/account/keys", axum::routing::post(create_key))
        .route("/v1/verdicts", axum::routing::post(verdict))
        .route("/v1/batches/sign", axum::routing::post(sign_batch))
        .route("/v1/work/chat", axum::routing::post(crate::openai::work_chat))
        .route("/v1/network/registry", get(registry))
        .route("/v1/accounts/{address}", get(account))
        .route("/v1/receipts/{id}", get(receipt))
        .route("/v1/requests/{id}", get(contract_request))
        .route("/v1/network", get(network))
        .route("/v1/tee/policy", get(tee_policy))
        .route("/v1/proofs/{sha256}", get(proof))
        .route("/healthz", get(health))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .merge(crate::explorer::routes())
        .merge(crate::web::routes())
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route") })
        .layer(DefaultBodyLimit::max(config.max_json_bytes))
        .with_state(node);
    match rpc {
        Some(rpc) => router.nest("/rpc", rpc),
        None => router,
    }
}

/// Serves the API on a bound listener until `shutdown` completes.
pub async fn serve(
    node: Arc<Node>,
    listener: tokio::net::TcpListener,
    config: ApiConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(node, &config)).with_graceful_shutdown(shutdown).await
}

fn model_json(version: &ModelVersion) -> Json_ {
    json!({
        "id": version.name,
        "object": "model",
        "created": 0,
        "owned_by": "veritas",
        "veritas": {
            "name": version.name,
            "version": version.version,
            "model_id": version.id,
            "format": version.manifest.format,
            "manifest": version.manifest,
        }
    })
}

/// `GET /v1/models`: OpenAI's list shape, with each model's version and id under `veritas`.
async fn list_models(State(node): State<AppState>) -> Result<Json<Json_>, ApiError> {
    let models = node.models().await?;
    Ok(Json(json!({"object": "list", "data": models.iter().map(model_json).collect::<Vec<_>>()})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PushQuery {
    name: String,
    #[serde(default = "default_format")]
    format: ModelFormat,
    /// The absolute part of the model's tolerance (ONNX only); with `tolerance_rel`, 0 if absent.
    tolerance_abs: Option<f64>,
    /// The relative part of the model's tolerance (ONNX only); with `tolerance_abs`, 0 if absent.
    tolerance_rel: Option<f64>,
}

impl PushQuery {
    /// The declared tolerance: none when neither part is given (the outputs must be exact).
    fn tolerance(&self) -> Option<Tolerance> {
        if self.tolerance_abs.is_none() && self.tolerance_rel.is_none() {
            return None;
        }
        Some(Tolerance { abs: self.tolerance_abs.unwrap_or(0.0), rel: self.tolerance_rel.unwrap_or(0.0) })
    }
}

fn default_format() -> ModelFormat {
    ModelFormat::Onnx
}

/// `POST /v1/models?name=NAME[&format=onnx|gguf][&tolerance_abs=X&tolerance_rel=Y]`: the body is
/// the model file, streamed to disk under the size limit. A tolerance is checked before the upload
/// is read.
async fn push_model(
    State(node): State<AppState>,
    query: Result<Query<PushQuery>, axum::extract::rejection::QueryRejection>,
    body: Body,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|err| {
        ApiError::bad_request(format!(
            "{}; expected ?name=NAME[&format=onnx|gguf][&tolerance_abs=X][&tolerance_rel=Y]",
            err.body_text()
        ))
    })?;
    veritas_node::validate_name(&query.name).map_err(veritas_node::NodeError::from)?;
    let tolerance = query.tolerance();
    veritas_node::validate_tolerance(query.format, tolerance.as_ref()).map_err(veritas_node::NodeError::from)?;
    let mut upload = node.stager().begin().map_err(veritas_node::NodeError::from)?;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|err| ApiError::bad_request(format!("upload interrupted: {err}")))?;
        upload.write(&chunk).await.map_err(veritas_node::NodeError::from)?;
    }
    if upload.size() == 0 {
        return Err(ApiError::bad_request("empty upload: the request body must be the model file"));
    }
    let staged = upload.finish().await.map_err(veritas_node::NodeError::from)?;
    let request = PushRequest { name: query.name, staged, format: query.format };
    let outcome = node.push_model_with_tolerance(request, tolerance).await?;
    let status = if outcome.created { StatusCode::CREATED } else { StatusCode::OK };
    let body = json!({
        "name": outcome.version.name,
        "version": outcome.version.version,
        "model_id": outcome.version.id,
        "created": outcome.created,
        "manifest": outcome.version.manifest,
    });
    Ok((status, Json(body)).into_response())
}

/// `GET /v1/models/{reference}`: a version by `name`, `name@version` or id, with the name's versions.
async fn show_model(State(node): State<AppState>, Path(reference): Path<String>) -> Result<Json<Json_>, ApiError> {
    let version = node.model(&reference).await?;
    let versions = node.model_versions(&version.name).await?;
    let mut body = model_json(&version);
    body["veritas"]["versions"] =
        versions.iter().map(|v| json!({"version": v.version, "model_id": v.id})).collect::<Vec<_>>().into();
    Ok(Json(body))
}

/// `GET /v1/models/{reference}/content`: the model file.
async fn pull_model(State(node): State<AppState>, Path(reference): Path<String>) -> Result<Response, ApiError> {
    let (version, bytes) = node.model_bytes(&reference).await?;
    let file = version.manifest.main_file().map(|f| f.path.clone()).unwrap_or_default();
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{file}\"")),
            (header::HeaderName::from_static("x-veritas-model-id"), version.id.to_string()),
        ],
        bytes,
    )
        .into_response())
}

/// `GET /v1/proofs/{sha256}`: a `zk` claim's proof from the hub, by the SHA-256 its receipt's
/// evidence carries.
async fn proof(State(node): State<AppState>, Path(sha256): Path<String>) -> Result<Response, ApiError> {
    let bytes = node.proof(&sha256).await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
}

/// `POST /v1/infer`: paid by the authenticated account (or the development payer).
async fn infer(State(node): State<AppState>, paid: Paid<InferRequest>) -> Result<Response, ApiError> {
    let response = node.infer(paid.body, paid.account).await?;
    let id = response.receipt_id.to_string();
    Ok(([(header::HeaderName::from_static("x-veritas-receipt"), id)], Json(response)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VerdictQuery {
    #[serde(default)]
    check: Option<veritas_node::CheckMode>,
}

/// `POST /v1/verdicts[?check=signed|reexec]`: this node, as a validator, checks the receipt in
/// the body and answers with its signed verdict. Without `check`, a `reexec` claim is
/// re-executed when it falls in the node's sampled share, anything else is checked `signed`.
async fn verdict(
    State(node): State<AppState>,
    query: Result<Query<VerdictQuery>, axum::extract::rejection::QueryRejection>,
    body: axum::body::Bytes,
) -> Result<Json<Json_>, ApiError> {
    let Query(query) = query
        .map_err(|err| ApiError::bad_request(format!("{}; expected ?check=signed|reexec|tee", err.body_text())))?;
    let receipt: veritas_primitives::Receipt =
        serde_json::from_slice(&body).map_err(|err| ApiError::bad_request(format!("not a receipt: {err}")))?;
    let judgement = node.judge(&receipt, query.check).await?;
    Ok(Json(json!({
        "receipt_id": receipt.id(),
        "valid": judgement.valid,
        "check": judgement.check,
        "reason": judgement.reason,
        "verdict": judgement.verdict,
    })))
}

/// `POST /v1/batches/sign`: this node, as a validator, signs a batch whose every claim carries a
/// quorum of "valid" verdicts.
async fn sign_batch(
    State(node): State<AppState>,
    body: Result<Json<veritas_node::BatchToSign>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<veritas_node::BatchSignature>, ApiError> {
    let Json(batch) = body.map_err(|err| ApiError::bad_request(format!("not a batch: {}", err.body_text())))?;
    Ok(Json(node.sign_batch(&batch).await?))
}

/// `GET /v1/network/registry`: every registered node with its role, endpoint and stake, and the
/// validators' total stake, as the chain records them now.
async fn registry(State(node): State<AppState>) -> Result<Json<veritas_node::Registry>, ApiError> {
    Ok(Json(node.registry().await?))
}

/// `POST /v1/account/keys`: an API key for the account that signed the request (EIP-191); the
/// key is shown once and stored only as its hash.
async fn create_key(
    State(node): State<AppState>,
    headers: axum::http::HeaderMap,
    paid: Paid<Json_>,
) -> Result<Response, ApiError> {
    let signed = headers.contains_key(veritas_primitives::request::SIGNATURE_HEADER);
    let (Some(account), true) = (paid.account, signed) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "creating an API key needs a request signed by the account (X-Veritas-Account, X-Veritas-Timestamp, X-Veritas-Signature)",
        ));
    };
    let key = node.create_api_key(account)?;
    Ok((StatusCode::CREATED, Json(json!({"account": account, "api_key": key}))).into_response())
}

/// `GET /v1/accounts/{address}`: escrow on chain, what unsettled requests commit, what is free.
async fn account(State(node): State<AppState>, Path(address): Path<String>) -> Result<Json<Json_>, ApiError> {
    let account: veritas_primitives::Address =
        address.parse().map_err(|_| ApiError::bad_request(format!("{address:?} is not an address")))?;
    let (escrow, committed) = node.account(account).await?;
    Ok(Json(json!({
        "account": account,
        "escrow": escrow.to_string(),
        "committed": committed.to_string(),
        "available": escrow.saturating_sub(committed).to_string(),
    })))
}

/// `GET /v1/receipts/{id}`.
async fn receipt(State(node): State<AppState>, Path(id): Path<String>) -> Result<Json<Json_>, ApiError> {
    let id: B256 =
        id.parse().map_err(|_| ApiError::bad_request(format!("receipt id {id:?} is not 32 bytes of hex")))?;
    let receipt = node.receipt(&id).await?;
    Ok(Json(
        serde_json::to_value(receipt)
            .map_err(|err| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", err.to_string()))?,
    ))
}

/// `GET /v1/requests/{id}`: what this gateway did with a contract's on-chain request: served
/// (with the receipt id), refused (with the reason), or not seen yet.
async fn contract_request(State(node): State<AppState>, Path(id): Path<String>) -> Result<Json<Json_>, ApiError> {
    let request: u64 =
        id.parse().map_err(|_| ApiError::bad_request(format!("request id {id:?} is not a decimal number")))?;
    Ok(Json(match node.contract_request(request)? {
        Some(veritas_node::Served::Receipt(receipt)) => {
            json!({"request": request, "status": "served", "receipt_id": receipt})
        }
        Some(veritas_node::Served::Refused(reason)) => {
            json!({"request": request, "status": "refused", "reason": reason})
        }
        None => json!({"request": request, "status": "unseen"}),
    }))
}

/// `GET /v1/network`: the chain this node settles on, its contracts and, for the embedded
/// chain, the JSON-RPC path and the development accounts.
async fn network(State(node): State<AppState>) -> Result<Json<Json_>, ApiError> {
    use veritas_node::chain::Chain;
    let domain = node.domain();
    let Some((chain, contracts)) = node.network() else {
        return Ok(Json(json!({"chain": null, "claim_domain": domain})));
    };
    let head = chain.block_number().await.map_err(veritas_node::NodeError::from)?;
    let embedded = node.chain().is_some();
    Ok(Json(json!({
        "chain": {
            "kind": if embedded { "embedded" } else { "rpc" },
            "chain_id": domain.chain_id,
            "rpc": embedded.then_some("/rpc"),
            "block": head,
            "contracts": {
                "token": contracts.token,
                "node_registry": contracts.registry,
                "model_registry": contracts.models,
                "settlement": contracts.settlement,
            },
            "dev_accounts": if embedded { veritas_node::devnet::dev_accounts() } else { Vec::new() },
            "default_payer": node.default_payer(),
        },
        "claim_domain": domain,
    })))
}

/// `GET /healthz`.
async fn health(State(node): State<AppState>) -> Result<Json<Json_>, ApiError> {
    Ok(Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "role": node.role().name(),
        "key": node.worker(),
        "worker": node.worker(),
        "chain_id": node.domain().chain_id,
        "claims_logged": node.claims_logged()?,
        "counts": node.counts()?,
        "uptime_s": node.uptime().as_secs(),
    })))
}

/// `GET /v1/tee/policy`: the enclaves this network's `tee` claims come from and the policy its
/// gateway and validators check them by (allowlisted measurements, accepted platform states,
/// whether simulated evidence passes). A reader chooses whether to trust it.
async fn tee_policy(State(node): State<AppState>) -> Json<Json_> {
    let (backend, policy) = node.tee();
    Json(json!({
        "enclave": backend.map(veritas_node::TeeBackend::name),
        "simulated": backend == Some(veritas_node::TeeBackend::Simulated),
        "warning": (backend == Some(veritas_node::TeeBackend::Simulated)).then_some(veritas_node::SIMULATED_WARNING),
        "policy": policy,
    }))
}

/// `GET /metrics`: Prometheus text format.
async fn metrics(State(node): State<AppState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], node.metrics_text())
}

/// `GET /openapi.json`.
async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}
