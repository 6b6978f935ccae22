//! The node's HTTP client for its peers: a gateway sends work to inference nodes and claims and
//! batches to validators; inference nodes and validators fetch models from a gateway's hub.
//! Every answer is checked by the caller (signatures, digests), never trusted.

use std::{ops::ControlFlow, time::Duration};

use alloy_primitives::Bytes;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use veritas_hub::ModelVersion;
use veritas_primitives::{Receipt, batch::BatchToSign};

use crate::{InferRequest, InferResponse, Judgement, NodeError, NodeResult};

/// How long a peer may take to answer a short request (a verdict on a signed claim, a batch).
pub(crate) const SHORT: Duration = Duration::from_secs(10);
/// How long a peer may take for work (inference, a re-execution, a generation).
pub(crate) const LONG: Duration = Duration::from_secs(600);
/// The largest answer read from a peer.
const MAX_ANSWER: usize = 64 << 20;

/// A chat request as a gateway sends it to an inference node.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkChat {
    /// The model id (a gateway resolves names first).
    pub model: String,
    /// The conversation or prompt.
    pub input: crate::ChatInput,
    /// Sampling.
    pub sampling: veritas_llm::SamplingParams,
    /// Whether to record log-probabilities.
    pub logprobs: bool,
    /// The claim's mode.
    pub mode: veritas_primitives::Mode,
    /// A `tee` request's nonce, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
}

/// One line of an inference node's streamed chat answer (newline-delimited JSON).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkChatEvent {
    /// A piece of final text.
    Text(String),
    /// The finished generation with its receipt.
    Done(Box<WorkChatDone>),
    /// The generation failed.
    Error(String),
}

/// The end of a streamed chat answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WorkChatDone {
    /// The generation.
    pub generation: veritas_llm::Generation,
    /// Token pieces (with logprobs only).
    pub pieces: Vec<String>,
    /// The signed receipt.
    pub receipt: Receipt,
}

/// A validator's signature on a batch.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BatchSignature {
    /// The validator.
    pub validator: veritas_primitives::Address,
    /// Its signature over the batch's EIP-712 digest.
    pub signature: Bytes,
}

fn peer_err(endpoint: &str, what: impl std::fmt::Display) -> NodeError {
    NodeError::Peer(format!("{endpoint}: {what}"))
}

/// The HTTP client.
#[derive(Clone)]
pub(crate) struct Peers {
    http: reqwest::Client,
}

impl Peers {
    pub fn new() -> Peers {
        let http = reqwest::Client::builder().connect_timeout(Duration::from_secs(5)).build().unwrap_or_default();
        Peers { http }
    }

    async fn post<T: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        endpoint: &str,
        path: &str,
        body: &T,
        timeout: Duration,
    ) -> NodeResult<R> {
        let url = format!("{}{path}", endpoint.trim_end_matches('/'));
        let response =
            self.http.post(&url).json(body).timeout(timeout).send().await.map_err(|err| peer_err(&url, err))?;
        read_json(&url, response).await
    }

    /// A peer's `/healthz`, within `timeout`.
    pub async fn health(&self, endpoint: &str, timeout: Duration) -> NodeResult<serde_json::Value> {
        let url = format!("{}/healthz", endpoint.trim_end_matches('/'));
        let response = self.http.get(&url).timeout(timeout).send().await.map_err(|err| peer_err(&url, err))?;
        read_json(&url, response).await
    }

    /// Runs an inference on a worker.
    pub async fn infer(&self, endpoint: &str, request: &InferRequest) -> NodeResult<InferResponse> {
        self.post(endpoint, "/v1/infer", request, LONG).await
    }

    /// Runs a chat request on a worker, passing each piece of text on as it arrives.
    pub async fn chat(
        &self,
        endpoint: &str,
        request: &WorkChat,
        on_text: &mut (impl FnMut(&str) -> ControlFlow<()> + Send),
    ) -> NodeResult<WorkChatDone> {
        use futures_util::StreamExt;
        let url = format!("{}/v1/work/chat", endpoint.trim_end_matches('/'));
        let response =
            self.http.post(&url).json(request).timeout(LONG).send().await.map_err(|err| peer_err(&url, err))?;
        if !response.status().is_success() {
            return Err(status_err(&url, response).await);
        }
        let mut stream = response.bytes_stream();
        let mut buffer = Vec::new();
        while let Some(chunk) = stream.next().await {
            buffer.extend_from_slice(&chunk.map_err(|err| peer_err(&url, err))?);
            if buffer.len() > MAX_ANSWER {
                return Err(peer_err(&url, "answer too large"));
            }
            while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buffer.drain(..=end).collect();
                let event: WorkChatEvent =
                    serde_json::from_slice(&line).map_err(|err| peer_err(&url, format!("not a chat event: {err}")))?;
                match event {
                    WorkChatEvent::Text(text) => {
                        if on_text(&text).is_break() {
                            return Err(NodeError::Cancelled);
                        }
                    }
                    WorkChatEvent::Done(done) => return Ok(*done),
                    WorkChatEvent::Error(message) => return Err(peer_err(&url, message)),
                }
            }
        }
        Err(peer_err(&url, "the stream ended before the receipt"))
    }

    /// Asks a validator for its verdict on a receipt.
    pub async fn judge(&self, endpoint: &str, receipt: &Receipt, timeout: Duration) -> NodeResult<Judgement> {
        self.post(endpoint, "/v1/verdicts", receipt, timeout).await
    }

    /// Asks a validator to sign a batch.
    pub async fn sign_batch(&self, endpoint: &str, batch: &BatchToSign) -> NodeResult<BatchSignature> {
        self.post(endpoint, "/v1/batches/sign", batch, SHORT).await
    }

    /// The ids of every model a hub lists (latest versions).
    pub async fn model_ids(&self, hub: &str) -> NodeResult<Vec<veritas_primitives::ModelId>> {
        let url = format!("{}/v1/models", hub.trim_end_matches('/'));
        let response = self.http.get(&url).timeout(SHORT).send().await.map_err(|err| peer_err(&url, err))?;
        let list: serde_json::Value = read_json(&url, response).await?;
        Ok(list["data"]
            .as_array()
            .map(|models| {
                models.iter().filter_map(|m| serde_json::from_value(m["veritas"]["model_id"].clone()).ok()).collect()
            })
            .unwrap_or_default())
    }

    /// A model version's manifest and file from a hub's API, by id.
    pub async fn model(&self, hub: &str, id: &veritas_primitives::ModelId) -> NodeResult<(ModelVersion, Vec<u8>)> {
        let base = hub.trim_end_matches('/');
        let url = format!("{base}/v1/models/{id}");
        let response = self.http.get(&url).timeout(SHORT).send().await.map_err(|err| peer_err(&url, err))?;
        let shown: serde_json::Value = read_json(&url, response).await?;
        let shown = &shown["veritas"];
        let version = ModelVersion {
            name: shown["name"].as_str().unwrap_or_default().to_owned(),
            version: shown["version"].as_u64().unwrap_or_default(),
            id: serde_json::from_value(shown["model_id"].clone())
                .map_err(|err| peer_err(&url, format!("no model id: {err}")))?,
            manifest: serde_json::from_value(shown["manifest"].clone())
                .map_err(|err| peer_err(&url, format!("no manifest: {err}")))?,
        };
        let url = format!("{base}/v1/models/{id}/content");
        let response = self.http.get(&url).timeout(LONG).send().await.map_err(|err| peer_err(&url, err))?;
        if !response.status().is_success() {
            return Err(status_err(&url, response).await);
        }
        let bytes = response.bytes().await.map_err(|err| peer_err(&url, err))?;
        Ok((version, bytes.to_vec()))
    }
}

/// A peer's error answer: a refusal of the request itself (400, 422) apart from other failures.
async fn status_err(url: &str, response: reqwest::Response) -> NodeError {
    let status = response.status();
    let rejected = matches!(status.as_u16(), 400 | 422);
    let body = response.text().await.unwrap_or_default();
    let message = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| body.chars().take(300).collect());
    match peer_err(url, format!("{status}: {message}")) {
        NodeError::Peer(message) if rejected => NodeError::PeerRejected(message),
        err => err,
    }
}

async fn read_json<R: DeserializeOwned>(url: &str, response: reqwest::Response) -> NodeResult<R> {
    if !response.status().is_success() {
        return Err(status_err(url, response).await);
    }
    let bytes = response.bytes().await.map_err(|err| peer_err(url, err))?;
    if bytes.len() > MAX_ANSWER {
        return Err(peer_err(url, "answer too large"));
    }
    serde_json::from_slice(&bytes).map_err(|err| peer_err(url, format!("unexpected answer: {err}")))
}
