//! The node's HTTP client for its peers: a gateway sends work to inference nodes and claims and
//! batches to validators; inference nodes and validators fetch models from a gateway's hub.
//! Every answer is checked by the caller (signatures, digests), never trusted.

use std::{ops::ControlFlow, time::Duration};

use serde::{Serialize, de::DeserializeOwned};
use veritas_hub::ModelVersion;
use veritas_primitives::{
    Address, B256, ClaimDomain, Receipt, WorkerKey,
    batch::BatchToSign,
    call::{CallEnvelope, CallTarget},
};
use veritas_wire::{
    BatchSignature, Health, InferRequest, InferResponse, ModelEntry, ModelList, WorkChat, WorkChatDone, WorkChatEvent,
};

use crate::{NodeError, NodeResult};

/// Why a peer's answer could not be had.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// The peer could not be reached, or the connection failed.
    #[error("{url}: {source}")]
    Transport {
        /// What was asked.
        url: String,
        /// Why.
        #[source]
        source: reqwest::Error,
    },
    /// The peer answered with an error status.
    #[error("{url}: {status}: {message}")]
    Status {
        /// What was asked.
        url: String,
        /// The status.
        status: reqwest::StatusCode,
        /// The error's message.
        message: String,
    },
    /// The peer's answer is not what was asked for.
    #[error("{url}: {what}")]
    Malformed {
        /// What was asked.
        url: String,
        /// What is wrong with the answer.
        what: String,
    },
    /// The peer's answer is over the size limit.
    #[error("{url}: answer too large")]
    TooLarge {
        /// What was asked.
        url: String,
    },
    /// A registered node that named no endpoint to ask.
    #[error("validator {0} registered no endpoint")]
    NoEndpoint(veritas_primitives::Address),
    /// The peer reported a failure of the work (a streamed chat's error event).
    #[error("{url}: {message}")]
    Failed {
        /// What was asked.
        url: String,
        /// The peer's message.
        message: String,
    },
}

impl PeerError {
    /// Whether the peer refused the request itself (400, 422): it would be refused anywhere.
    pub fn rejected(&self) -> bool {
        matches!(self, PeerError::Status { status, .. } if matches!(status.as_u16(), 400 | 422))
    }
}

fn transport(url: &str) -> impl FnOnce(reqwest::Error) -> PeerError + '_ {
    move |source| PeerError::Transport { url: url.to_owned(), source }
}

fn malformed(url: &str, what: impl std::fmt::Display) -> PeerError {
    PeerError::Malformed { url: url.to_owned(), what: what.to_string() }
}

/// How long a peer may take to answer a short request (a verdict on a signed claim, a batch).
pub(crate) const SHORT: Duration = Duration::from_secs(10);
/// How long a peer may take for work (inference, a re-execution, a generation).
pub(crate) const LONG: Duration = Duration::from_secs(600);
/// The largest answer read from a peer.
const MAX_ANSWER: usize = 64 << 20;

/// The HTTP client.
#[derive(Clone)]
pub(crate) struct Peers {
    http: reqwest::Client,
}

/// Who makes a call between roles and whom it asks: the gateway's key, in the network's domain,
/// and the registered key of the node asked. Every call it makes carries the gateway's
/// signature (`veritas_primitives::call`).
#[derive(Clone, Copy)]
pub(crate) struct Caller<'a> {
    /// The gateway's key.
    pub key: &'a WorkerKey,
    /// The network's domain.
    pub domain: ClaimDomain,
    /// The node asked.
    pub to: Address,
}

impl Caller<'_> {
    /// A request to `url` (`path` on the peer) with `body`, signed for this node.
    fn request(
        &self,
        http: &reqwest::Client,
        url: &str,
        path: &str,
        body: Vec<u8>,
    ) -> NodeResult<reqwest::RequestBuilder> {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let target = CallTarget { to: self.to, method: "POST", path, body: &body };
        let envelope = CallEnvelope::sign(self.key, &self.domain, &target, now, B256::random())?;
        let mut request = http.post(url).header(reqwest::header::CONTENT_TYPE, "application/json");
        for (name, value) in envelope.headers() {
            request = request.header(name, value);
        }
        Ok(request.body(body))
    }
}

impl Peers {
    pub fn new() -> Peers {
        // Idle connections are dropped before the peer's own idle limit (its
        // 10 s header timeout closes kept-alive connections), so a call never
        // goes out on a connection the peer is closing.
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        Peers { http }
    }

    /// A call between roles: `body` as JSON, signed by the caller for the node asked.
    async fn post<T: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        caller: &Caller<'_>,
        endpoint: &str,
        path: &str,
        body: &T,
        timeout: Duration,
    ) -> NodeResult<R> {
        let url = format!("{}{path}", endpoint.trim_end_matches('/'));
        let bytes =
            serde_json::to_vec(body).map_err(|err| malformed(&url, format!("cannot encode the request: {err}")))?;
        let request = caller.request(&self.http, &url, path, bytes)?;
        let response = request.timeout(timeout).send().await.map_err(transport(&url))?;
        read_json(&url, response).await
    }

    /// A peer's `/healthz`, within `timeout`.
    pub async fn health(&self, endpoint: &str, timeout: Duration) -> NodeResult<Health> {
        let url = format!("{}/healthz", endpoint.trim_end_matches('/'));
        let response = self.http.get(&url).timeout(timeout).send().await.map_err(transport(&url))?;
        read_json(&url, response).await
    }

    /// Runs an inference on a worker.
    pub async fn infer(
        &self,
        caller: &Caller<'_>,
        endpoint: &str,
        request: &InferRequest,
    ) -> NodeResult<InferResponse> {
        self.post(caller, endpoint, "/v1/infer", request, LONG).await
    }

    /// An inference node's enclave key offer for a client's nonce.
    pub async fn key_offer(
        &self,
        caller: &Caller<'_>,
        endpoint: &str,
        request: &veritas_wire::KeyRequest,
    ) -> NodeResult<veritas_wire::KeyOffer> {
        self.post(caller, endpoint, "/v1/work/key", request, SHORT).await
    }

    /// Runs a chat request on a worker, passing each piece of text on as it arrives.
    pub async fn chat(
        &self,
        caller: &Caller<'_>,
        endpoint: &str,
        request: &WorkChat,
        on_text: &mut (impl FnMut(&str) -> ControlFlow<()> + Send),
    ) -> NodeResult<WorkChatDone> {
        use futures_util::StreamExt;
        let url = format!("{}/v1/work/chat", endpoint.trim_end_matches('/'));
        let bytes =
            serde_json::to_vec(request).map_err(|err| malformed(&url, format!("cannot encode the request: {err}")))?;
        let request = caller.request(&self.http, &url, "/v1/work/chat", bytes)?;
        let response = request.timeout(LONG).send().await.map_err(transport(&url))?;
        if !response.status().is_success() {
            return Err(status_err(&url, response).await.into());
        }
        let mut stream = response.bytes_stream();
        let mut buffer = Vec::new();
        while let Some(chunk) = stream.next().await {
            buffer.extend_from_slice(&chunk.map_err(transport(&url))?);
            if buffer.len() > MAX_ANSWER {
                return Err(PeerError::TooLarge { url }.into());
            }
            while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buffer.drain(..=end).collect();
                let event: WorkChatEvent =
                    serde_json::from_slice(&line).map_err(|err| malformed(&url, format!("not a chat event: {err}")))?;
                match event {
                    WorkChatEvent::Text(text) => {
                        if on_text(&text).is_break() {
                            return Err(NodeError::Cancelled);
                        }
                    }
                    WorkChatEvent::Done(done) => return Ok(*done),
                    WorkChatEvent::Error(message) => return Err(PeerError::Failed { url, message }.into()),
                }
            }
        }
        Err(malformed(&url, "the stream ended before the receipt").into())
    }

    /// Asks a validator for its verdicts on many claims in one call.
    pub async fn judge_many(
        &self,
        caller: &Caller<'_>,
        endpoint: &str,
        receipts: &[Receipt],
        timeout: Duration,
    ) -> NodeResult<veritas_wire::Judgements> {
        let body = veritas_wire::JudgeMany { receipts: receipts.to_vec() };
        self.post(caller, endpoint, "/v1/verdicts/batch", &body, timeout).await
    }

    /// Asks a validator to sign a batch.
    pub async fn sign_batch(
        &self,
        caller: &Caller<'_>,
        endpoint: &str,
        batch: &BatchToSign,
    ) -> NodeResult<BatchSignature> {
        self.post(caller, endpoint, "/v1/batches/sign", batch, SHORT).await
    }

    /// The ids of every model a hub lists (latest versions).
    pub async fn model_ids(&self, hub: &str) -> NodeResult<Vec<veritas_primitives::ModelId>> {
        let url = format!("{}/v1/models", hub.trim_end_matches('/'));
        let response = self.http.get(&url).timeout(SHORT).send().await.map_err(transport(&url))?;
        let list: ModelList = read_json(&url, response).await?;
        Ok(list.data.iter().map(|model| model.veritas.model_id).collect())
    }

    /// A model version's manifest from a hub's API, by id, its file streamed into `upload`
    /// (which holds it to the hub's size limit) rather than held in memory.
    pub async fn model(
        &self,
        hub: &str,
        id: &veritas_primitives::ModelId,
        upload: &mut veritas_hub::Upload,
    ) -> NodeResult<ModelVersion> {
        let base = hub.trim_end_matches('/');
        let url = format!("{base}/v1/models/{id}");
        let response = self.http.get(&url).timeout(SHORT).send().await.map_err(transport(&url))?;
        let shown: ModelEntry = read_json(&url, response).await?;
        let url = format!("{base}/v1/models/{id}/content");
        let mut response = self.http.get(&url).timeout(LONG).send().await.map_err(transport(&url))?;
        if !response.status().is_success() {
            return Err(status_err(&url, response).await.into());
        }
        while let Some(chunk) = response.chunk().await.map_err(transport(&url))? {
            upload.write(&chunk).await?;
        }
        Ok(shown.version())
    }
}

/// A peer's error answer, with the message of its error body when it sent one.
async fn status_err(url: &str, response: reqwest::Response) -> PeerError {
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    let message = serde_json::from_str::<veritas_wire::ErrorBody>(&body)
        .map(|answer| answer.error.message)
        .unwrap_or_else(|_| body.chars().take(300).collect());
    PeerError::Status { url: url.to_owned(), status, message }
}

async fn read_json<R: DeserializeOwned>(url: &str, response: reqwest::Response) -> NodeResult<R> {
    if !response.status().is_success() {
        return Err(status_err(url, response).await.into());
    }
    let bytes = response.bytes().await.map_err(transport(url))?;
    if bytes.len() > MAX_ANSWER {
        return Err(PeerError::TooLarge { url: url.to_owned() }.into());
    }
    serde_json::from_slice(&bytes).map_err(|err| malformed(url, format!("unexpected answer: {err}")).into())
}

/// An OpenAI-compatible node that `veritas proxy` forwards to: the proxy's one HTTP client.
/// What it answers is relayed as it came, and checked by the proxy before a client sees its end.
#[derive(Clone)]
pub struct Upstream {
    http: reqwest::Client,
    base: String,
}

/// An upstream's answer: its status, the headers a client needs, and its body as it arrives.
pub struct Forwarded {
    /// The HTTP status.
    pub status: u16,
    /// `content-type`, `retry-after` and `x-veritas-receipt`, when present.
    pub headers: Vec<(&'static str, String)>,
    /// The body, chunk by chunk.
    pub body: futures_util::stream::BoxStream<'static, Result<Vec<u8>, String>>,
}

impl Upstream {
    /// The node at `base` (`http://host:port`).
    pub fn new(base: &str) -> Upstream {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        Upstream { http, base: base.trim_end_matches('/').to_owned() }
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sends `method path` with the client's `authorization` and `x-veritas-*` headers and `body`.
    pub async fn forward(
        &self,
        method: &str,
        path: &str,
        headers: &[(String, String)],
        body: Vec<u8>,
    ) -> NodeResult<Forwarded> {
        use futures_util::StreamExt;
        let url = format!("{}{path}", self.base);
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|_| malformed(&url, format!("method {method} cannot be forwarded")))?;
        let mut request = self.http.request(method, &url).timeout(LONG).body(body);
        for (name, value) in headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let response = request.send().await.map_err(transport(&url))?;
        let status = response.status().as_u16();
        let headers = ["content-type", "retry-after", "x-veritas-receipt"]
            .into_iter()
            .filter_map(|name| {
                let value = response.headers().get(name)?.to_str().ok()?;
                Some((name, value.to_owned()))
            })
            .collect();
        let body = response.bytes_stream().map(|chunk| chunk.map(|c| c.to_vec()).map_err(|e| e.to_string())).boxed();
        Ok(Forwarded { status, headers, body })
    }

    /// `GET path` as text (a receipt as the node stores it, its TEE policy).
    pub async fn text(&self, path: &str) -> NodeResult<String> {
        let url = format!("{}{path}", self.base);
        let response = self.http.get(&url).timeout(SHORT).send().await.map_err(transport(&url))?;
        if !response.status().is_success() {
            return Err(status_err(&url, response).await.into());
        }
        let bytes = response.bytes().await.map_err(transport(&url))?;
        if bytes.len() > MAX_ANSWER {
            return Err(PeerError::TooLarge { url }.into());
        }
        String::from_utf8(bytes.to_vec()).map_err(|_| malformed(&url, "an answer that is not text").into())
    }
}
