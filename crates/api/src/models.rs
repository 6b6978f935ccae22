//! Models: the list (OpenAI's shape), a version with its name's versions, uploads streamed to
//! disk under the size limit, downloads by digest, and `zk` proofs from the hub.

use axum::{
    Json,
    body::Body,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use futures_util::StreamExt;
use veritas_node::{
    NodeError, PushRequest, Tolerance,
    wire::{ErrorBody, ModelEntry, ModelList, PushAnswer, PushQuery, VersionRef},
};

use crate::{ApiError, routes::AppState};

/// The declared tolerance: none when neither part is given (the outputs must be exact).
fn tolerance(query: &PushQuery) -> Option<Tolerance> {
    if query.tolerance_abs.is_none() && query.tolerance_rel.is_none() {
        return None;
    }
    Some(Tolerance { abs: query.tolerance_abs.unwrap_or(0.0), rel: query.tolerance_rel.unwrap_or(0.0) })
}

/// Every model with its latest version, in OpenAI's list shape with each version's details
/// under `veritas`.
#[utoipa::path(get, path = "/v1/models", tag = "models", responses(
    (status = 200, description = "The models", body = ModelList),
    (status = "5XX", description = "The hub failed", body = ErrorBody),
))]
pub(crate) async fn list_models(State(state): State<AppState>) -> Result<Json<ModelList>, ApiError> {
    let models = state.node.core().models().await?;
    Ok(Json(ModelList { object: "list".into(), data: models.iter().map(ModelEntry::of).collect() }))
}

/// Uploads a model file (the raw body, `application/octet-stream`, streamed to disk under the
/// size limit) as the next version of a name, signed by one of the node's operators (see
/// `veritas_primitives::publish`). The first publisher of a name owns it. The signature, the
/// tolerance and the owner are checked before the upload is read; anything the runtime cannot
/// load is refused here, not at inference.
#[utoipa::path(post, path = "/v1/models", tag = "models", params(PushQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The model file"),
    responses(
        (status = 201, description = "A new version", body = PushAnswer),
        (status = 200, description = "The same bytes were the latest version already", body = PushAnswer),
        (status = 401, description = "No valid operator signature", body = ErrorBody),
        (status = 403, description = "Not an operator, not the name's owner, or from a web page", body = ErrorBody),
        (status = 415, description = "Not application/octet-stream", body = ErrorBody),
        (status = "4XX", description = "Refused: bad name, tolerance, format or file; too large", body = ErrorBody),
    ))]
pub(crate) async fn push_model(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    query: Result<Query<PushQuery>, axum::extract::rejection::QueryRejection>,
    body: Body,
) -> Result<Response, ApiError> {
    let target = uri.path_and_query().map_or(uri.path(), |pq| pq.as_str());
    let envelope = crate::guard::operator_push(&state, &headers, target)?;
    let Query(query) = query.map_err(|err| {
        ApiError::bad_request(format!(
            "{}; expected ?name=NAME[&format=onnx|gguf][&tolerance_abs=X][&tolerance_rel=Y]",
            err.body_text()
        ))
    })?;
    veritas_node::validate_name(&query.name).map_err(NodeError::from)?;
    let tolerance = tolerance(&query);
    veritas_node::validate_tolerance(query.format, tolerance.as_ref()).map_err(NodeError::from)?;
    let core = state.node.core();
    if let Some(owner) = core.model_owner(&query.name)?
        && owner != envelope.publisher
    {
        return Err(NodeError::from(veritas_node::HubError::NotOwner { name: query.name, owner }).into());
    }
    let mut upload = core.stager().begin().map_err(NodeError::from)?;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|err| ApiError::bad_request(format!("upload interrupted: {err}")))?;
        upload.write(&chunk).await.map_err(NodeError::from)?;
    }
    if upload.size() == 0 {
        return Err(ApiError::bad_request("empty upload: the request body must be the model file"));
    }
    let staged = upload.finish().await.map_err(NodeError::from)?;
    let signed = veritas_primitives::hex::encode(envelope.content_sha256);
    if staged.sha256 != signed {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "content_mismatch",
            format!("the uploaded file's SHA-256 is {}, not the {signed} the push was signed for", staged.sha256),
        ));
    }
    let request = PushRequest { name: query.name, staged, format: query.format };
    let outcome = core.push_model_as(request, tolerance, Some(envelope.publisher)).await?;
    let status = if outcome.created { StatusCode::CREATED } else { StatusCode::OK };
    let version = outcome.version;
    let answer = PushAnswer {
        name: version.name,
        version: version.version,
        model_id: version.id,
        created: outcome.created,
        manifest: version.manifest,
    };
    Ok((status, Json(answer)).into_response())
}

/// A version by `name`, `name@version` or model id, with every version of its name.
#[utoipa::path(get, path = "/v1/models/{reference}", tag = "models",
    params(("reference" = String, Path, description = "`name`, `name@version` or a model id")),
    responses(
        (status = 200, description = "The version", body = ModelEntry),
        (status = 404, description = "No such model", body = ErrorBody),
    ))]
pub(crate) async fn show_model(
    State(state): State<AppState>,
    Path(reference): Path<String>,
) -> Result<Json<ModelEntry>, ApiError> {
    let core = state.node.core();
    let version = core.model(&reference).await?;
    let versions = core.model_versions(&version.name).await?;
    let mut entry = ModelEntry::of(&version);
    entry.veritas.versions = Some(versions.iter().map(|v| VersionRef { version: v.version, model_id: v.id }).collect());
    Ok(Json(entry))
}

/// A version's file, streamed, its digest checked as it passes (a changed file is cut off
/// before its end; the model id tells the reader what it should hash to).
#[utoipa::path(get, path = "/v1/models/{reference}/content", tag = "models",
    params(("reference" = String, Path, description = "`name`, `name@version` or a model id")),
    responses(
        (status = 200, description = "The file; header X-Veritas-Model-Id names its version", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 404, description = "No such model", body = ErrorBody),
    ))]
pub(crate) async fn pull_model(
    State(state): State<AppState>,
    Path(reference): Path<String>,
) -> Result<Response, ApiError> {
    let (version, stream) = state.node.core().model_stream(&reference).await?;
    let (file, size) = version.manifest.main_file().map(|f| (f.path.clone(), f.size)).unwrap_or_default();
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{file}\"")),
            (header::CONTENT_LENGTH, size.to_string()),
            (header::HeaderName::from_static("x-veritas-model-id"), version.id.to_string()),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

/// A `zk` claim's proof from the hub, by the SHA-256 its receipt's evidence carries.
#[utoipa::path(get, path = "/v1/proofs/{sha256}", tag = "models",
    params(("sha256" = String, Path, description = "The proof's SHA-256, lowercase hex")),
    responses(
        (status = 200, description = "The proof", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 404, description = "No such proof", body = ErrorBody),
    ))]
pub(crate) async fn proof(State(state): State<AppState>, Path(sha256): Path<String>) -> Result<Response, ApiError> {
    let bytes = state.node.core().proof(&sha256).await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
}
