//! The routes.

use std::sync::Arc;

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
use veritas_node::{ModelFormat, ModelVersion, Node, NodeHandle, PushRequest, Tolerance, wire::InferRequest};
use veritas_primitives::B256;

use crate::{
    ApiError,
    auth::{Paid, ReplayGuard},
};

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

/// What every route sees: the node, and the replay guard of signed requests.
#[derive(Clone)]
pub(crate) struct AppState {
    pub node: Node,
    pub replay: Arc<ReplayGuard>,
}

/// The router over a node.
pub fn router(node: &Node, config: &ApiConfig) -> Router {
    let rpc = node.core().chain().and_then(|c| c.embedded.clone()).map(crate::chain_router);
    let state = AppState { node: node.clone(), replay: Default::default() };
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
        .with_state(state);
    match rpc {
        Some(rpc) => router.nest("/rpc", rpc),
        None => router,
    }
}

/// Serves the API on a bound listener as one of the node's tasks: when the node is told to
/// stop, it stops accepting connections and answers the requests it has, then ends.
pub fn serve(handle: &mut NodeHandle, listener: tokio::net::TcpListener, config: ApiConfig) {
    let router = router(handle.node(), &config);
    let stopping = handle.stopping();
    handle.spawn("api", async move {
        axum::serve(listener, router).with_graceful_shutdown(stopping.wait()).await?;
        Ok(())
    });
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
async fn list_models(State(state): State<AppState>) -> Result<Json<Json_>, ApiError> {
    let models = state.node.core().models().await?;
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
    State(state): State<AppState>,
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
    let core = state.node.core();
    let mut upload = core.stager().begin().map_err(veritas_node::NodeError::from)?;
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
    let outcome = core.push_model_with_tolerance(request, tolerance).await?;
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
async fn show_model(State(state): State<AppState>, Path(reference): Path<String>) -> Result<Json<Json_>, ApiError> {
    let core = state.node.core();
    let version = core.model(&reference).await?;
    let versions = core.model_versions(&version.name).await?;
    let mut body = model_json(&version);
    body["veritas"]["versions"] =
        versions.iter().map(|v| json!({"version": v.version, "model_id": v.id})).collect::<Vec<_>>().into();
    Ok(Json(body))
}

/// `GET /v1/models/{reference}/content`: the model file.
async fn pull_model(State(state): State<AppState>, Path(reference): Path<String>) -> Result<Response, ApiError> {
    let (version, bytes) = state.node.core().model_bytes(&reference).await?;
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
async fn proof(State(state): State<AppState>, Path(sha256): Path<String>) -> Result<Response, ApiError> {
    let bytes = state.node.core().proof(&sha256).await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
}

/// `POST /v1/infer`: paid by the authenticated account (or the development payer).
async fn infer(State(state): State<AppState>, paid: Paid<InferRequest>) -> Result<Response, ApiError> {
    let response = state.node.infer(paid.body, paid.account).await?;
    let id = response.receipt_id.to_string();
    Ok(([(header::HeaderName::from_static("x-veritas-receipt"), id)], Json(response)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VerdictQuery {
    #[serde(default)]
    check: Option<veritas_node::wire::CheckMode>,
}

/// `POST /v1/verdicts[?check=signed|reexec]`: this node, as a validator, checks the receipt in
/// the body and answers with its signed verdict. Without `check`, a `reexec` claim is
/// re-executed when it falls in the node's sampled share, anything else is checked `signed`.
async fn verdict(
    State(state): State<AppState>,
    query: Result<Query<VerdictQuery>, axum::extract::rejection::QueryRejection>,
    body: axum::body::Bytes,
) -> Result<Json<veritas_node::wire::Judgement>, ApiError> {
    let Query(query) = query
        .map_err(|err| ApiError::bad_request(format!("{}; expected ?check=signed|reexec|tee", err.body_text())))?;
    let receipt: veritas_primitives::Receipt =
        serde_json::from_slice(&body).map_err(|err| ApiError::bad_request(format!("not a receipt: {err}")))?;
    Ok(Json(state.node.validator()?.judge(&receipt, query.check).await?))
}

/// `POST /v1/batches/sign`: this node, as a validator, signs a batch whose every claim carries a
/// quorum of "valid" verdicts.
async fn sign_batch(
    State(state): State<AppState>,
    body: Result<Json<veritas_node::BatchToSign>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<veritas_node::wire::BatchSignature>, ApiError> {
    let Json(batch) = body.map_err(|err| ApiError::bad_request(format!("not a batch: {}", err.body_text())))?;
    Ok(Json(state.node.validator()?.sign_batch(&batch).await?))
}

/// `GET /v1/network/registry`: every registered node with its role, endpoint and stake, and the
/// validators' total stake, as the chain records them now.
async fn registry(State(state): State<AppState>) -> Result<Json<veritas_node::wire::Registry>, ApiError> {
    Ok(Json(state.node.core().registry().await?))
}

/// `POST /v1/account/keys`: an API key for the account that signed the request (EIP-191); the
/// key is shown once and stored only as its hash.
async fn create_key(
    State(state): State<AppState>,
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
    let key = state.node.core().create_api_key(account)?;
    Ok((StatusCode::CREATED, Json(json!({"account": account, "api_key": key}))).into_response())
}

/// `GET /v1/accounts/{address}`: escrow on chain, what unsettled requests commit, what is free.
async fn account(State(state): State<AppState>, Path(address): Path<String>) -> Result<Json<Json_>, ApiError> {
    let account: veritas_primitives::Address =
        address.parse().map_err(|_| ApiError::bad_request(format!("{address:?} is not an address")))?;
    let (escrow, committed) = state.node.gateway()?.account(account).await?;
    Ok(Json(json!({
        "account": account,
        "escrow": escrow.to_string(),
        "committed": committed.to_string(),
        "available": escrow.saturating_sub(committed).to_string(),
    })))
}

/// `GET /v1/receipts/{id}`.
async fn receipt(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Json_>, ApiError> {
    let id: B256 =
        id.parse().map_err(|_| ApiError::bad_request(format!("receipt id {id:?} is not 32 bytes of hex")))?;
    let receipt = state.node.core().receipt(&id).await?;
    Ok(Json(
        serde_json::to_value(receipt)
            .map_err(|err| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", err.to_string()))?,
    ))
}

/// `GET /v1/requests/{id}`: what this gateway did with a contract's on-chain request: served
/// (with the receipt id), refused (with the reason), or not seen yet.
async fn contract_request(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Json_>, ApiError> {
    let request: u64 =
        id.parse().map_err(|_| ApiError::bad_request(format!("request id {id:?} is not a decimal number")))?;
    Ok(Json(match state.node.gateway()?.contract_request(request)? {
        Some(veritas_node::store::Served::Receipt(receipt)) => {
            json!({"request": request, "status": "served", "receipt_id": receipt})
        }
        Some(veritas_node::store::Served::Refused(reason)) => {
            json!({"request": request, "status": "refused", "reason": reason})
        }
        None => json!({"request": request, "status": "unseen"}),
    }))
}

/// `GET /v1/network`: the chain this node settles on, its contracts and, for the embedded
/// chain, the JSON-RPC path and the development accounts.
async fn network(State(state): State<AppState>) -> Result<Json<Json_>, ApiError> {
    use veritas_node::chain::Chain;
    let core = state.node.core();
    let domain = core.domain();
    let Some(link) = core.chain() else {
        return Ok(Json(json!({"chain": null, "claim_domain": domain})));
    };
    let contracts = link.contracts;
    let head = link.chain.block_number().await.map_err(veritas_node::NodeError::from)?;
    let embedded = link.embedded.is_some();
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
            "default_payer": core.default_payer(),
        },
        "claim_domain": domain,
    })))
}

/// `GET /healthz`.
async fn health(State(state): State<AppState>) -> Result<Json<veritas_node::wire::Health>, ApiError> {
    let core = state.node.core();
    let counts = core.counts()?;
    Ok(Json(veritas_node::wire::Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        role: core.role().name().into(),
        key: core.key(),
        worker: core.key(),
        chain_id: core.domain().chain_id,
        claims_logged: counts.claims_logged,
        counts,
        uptime_s: core.uptime().as_secs(),
    }))
}

/// `GET /v1/tee/policy`: the enclaves this network's `tee` claims come from and the policy its
/// gateway and validators check them by (allowlisted measurements, accepted platform states,
/// whether simulated evidence passes). A reader chooses whether to trust it.
async fn tee_policy(State(state): State<AppState>) -> Json<Json_> {
    let core = state.node.core();
    let (backend, policy) = (core.offer().tee, core.tee_policy());
    Json(json!({
        "enclave": backend.map(veritas_node::TeeBackend::name),
        "simulated": backend == Some(veritas_node::TeeBackend::Simulated),
        "warning": (backend == Some(veritas_node::TeeBackend::Simulated)).then_some(veritas_node::SIMULATED_WARNING),
        "policy": policy,
    }))
}

/// `GET /metrics`: Prometheus text format.
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.node.core().metrics_text())
}

/// `GET /openapi.json`.
async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}
