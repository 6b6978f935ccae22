//! The OpenAI-compatible embeddings endpoint, `POST /v1/embeddings`: texts embedded by a
//! sentence-embedding model (GGUF, llama.cpp), as an inference with a receipt (its input the
//! texts, its output the vectors), re-computed by re-execution validators within
//! `veritas_llm::EMBEDDING_TOLERANCE`.

use axum::{Json, extract::State, http::header, response::IntoResponse, response::Response};
use base64::Engine as _;
use veritas_node::wire::{
    ErrorBody, InferRequest,
    openai::{Embedding, EmbeddingInput, EmbeddingRequest, EmbeddingResponse, EmbeddingUsage, VeritasReceipt},
};
use veritas_primitives::{TensorData, Value};

use crate::{ApiError, auth::Paid, routes::AppState};

/// The most texts one request embeds (OpenAI's limit).
const MAX_INPUTS: usize = 2048;

/// Embed texts with a sentence-embedding model (GGUF). The answer carries its receipt under
/// `veritas` and in the `X-Veritas-Receipt` header.
#[utoipa::path(post, path = "/v1/embeddings", tag = "openai", request_body = EmbeddingRequest, responses(
    (status = 200, description = "One L2-normalised vector per text, in order", body = EmbeddingResponse),
    (status = 400, description = "A bad request: the message names what is wrong", body = ErrorBody),
    (status = 401, description = "An unknown API key or a signature that does not hold", body = ErrorBody),
    (status = 402, description = "The paying account cannot cover the price", body = ErrorBody),
    (status = 404, description = "No such model", body = ErrorBody),
))]
pub(crate) async fn embeddings(
    State(state): State<AppState>,
    paid: Paid<EmbeddingRequest>,
) -> Result<Response, ApiError> {
    let body = paid.body;
    if let Some(name) = body.unknown.keys().next() {
        return Err(ApiError::bad_request(format!("unknown parameter `{name}`")));
    }
    let texts = match body.input {
        EmbeddingInput::One(text) => vec![text],
        EmbeddingInput::Many(texts) => texts,
        EmbeddingInput::Tokens(_) => {
            return Err(ApiError::bad_request("input must be a text or a list of texts (token ids are not supported)"));
        }
    };
    if texts.is_empty() || texts.len() > MAX_INPUTS {
        return Err(ApiError::bad_request(format!("input must hold 1 to {MAX_INPUTS} texts, got {}", texts.len())));
    }
    if let Some(i) = texts.iter().position(String::is_empty) {
        return Err(ApiError::bad_request(format!("input {i} is empty")));
    }
    let base64 = match body.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!("encoding_format must be float or base64, got {other:?}")));
        }
    };
    let request = InferRequest {
        model: body.model,
        input: serde_json::json!({ "input": texts }),
        mode: body.veritas_mode,
        request_id: None,
        nonce: body.veritas_nonce,
        sealed: None,
    };
    let node = state.node.clone();
    let model = node.core().resolve_model(&request.model).await?;
    if !model.manifest.is_embedding() {
        return Err(ApiError::bad_request(format!(
            "model {} is not a sentence-embedding model (a GGUF whose header names a pooling)",
            request.model
        )));
    }
    let width = model.manifest.schema.outputs.first().and_then(|output| output.shape.get(1).copied().flatten());
    if let Some(asked) = body.dimensions
        && Some(u64::from(asked)) != width
    {
        return Err(ApiError::bad_request(format!(
            "dimensions {asked} is not supported: this model's vectors have {} (it is not trained to be shortened)",
            width.map_or("another length".to_owned(), |w| w.to_string())
        )));
    }
    let answer = node.infer(request, paid.account).await?;
    let (shape, vectors) = match answer.output.get("embeddings") {
        Some(Value::Tensor(tensor)) => match &tensor.data {
            TensorData::Float32(values) => (tensor.shape.clone(), values.clone()),
            _ => {
                return Err(ApiError::new(
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the embeddings are not float32",
                ));
            }
        },
        _ => {
            return Err(ApiError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the answer carries no embeddings",
            ));
        }
    };
    let width = shape.get(1).copied().unwrap_or(0).max(1) as usize;
    let data = vectors
        .chunks(width)
        .enumerate()
        .map(|(index, vector)| Embedding {
            object: "embedding".into(),
            index,
            embedding: if base64 {
                let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
                serde_json::Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                serde_json::json!(vector)
            },
        })
        .collect();
    let tokens = answer
        .receipt
        .body
        .params
        .as_ref()
        .and_then(|params| params.0.get("prompt_tokens"))
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0) as usize;
    let receipt_id = answer.receipt_id.to_string();
    let response = EmbeddingResponse {
        object: "list".into(),
        data,
        model: answer.model.name.clone(),
        usage: EmbeddingUsage { prompt_tokens: tokens, total_tokens: tokens },
        veritas: VeritasReceipt {
            receipt_id: answer.receipt_id,
            model_id: answer.model.id,
            receipt: answer.receipt,
            sealed: None,
        },
    };
    Ok(([(header::HeaderName::from_static("x-veritas-receipt"), receipt_id)], Json(response)).into_response())
}
