//! Talking to a node over HTTP.

use std::path::Path;

use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Serialize, de::DeserializeOwned};
use veritas_node::wire::ErrorBody;

use crate::exit;

/// Why a request to the node failed.
#[derive(Debug)]
pub enum ClientError {
    /// No answer.
    Unreachable {
        /// The node URL.
        url: String,
        /// The transport error.
        reason: String,
    },
    /// An answer whose receipt does not hold, or that shows something the receipt does not sign.
    Invalid {
        /// What does not hold.
        reason: String,
    },
    /// An answer that is not what the API documents.
    Malformed {
        /// What was asked.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An error answer.
    Refused {
        /// The HTTP status.
        status: u16,
        /// The API's error code.
        code: String,
        /// The API's message.
        message: String,
    },
}

impl std::error::Error for ClientError {}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Unreachable { url, reason } => {
                write!(
                    f,
                    "cannot reach the node at {url} ({reason}); is it running? (`veritas up`, or set VERITAS_API)"
                )
            }
            ClientError::Invalid { reason } => write!(f, "INVALID answer: {reason}"),
            ClientError::Malformed { url, reason } => {
                write!(f, "the node at {url} answered something unexpected: {reason}")
            }
            ClientError::Refused { status, code, message } => {
                write!(f, "the node refused ({status} {code}): {message}")
            }
        }
    }
}

impl ClientError {
    /// The process exit code for this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            ClientError::Unreachable { .. } => exit::UNREACHABLE,
            ClientError::Invalid { .. } => exit::INVALID,
            ClientError::Refused { .. } | ClientError::Malformed { .. } => exit::REFUSED,
        }
    }
}

/// A node's HTTP API.
pub struct Client {
    base: String,
    http: reqwest::Client,
    api_key: Option<String>,
}

impl Client {
    /// A client for the node at `base`.
    pub fn new(base: &str) -> Client {
        Client { base: base.trim_end_matches('/').to_owned(), http: reqwest::Client::new(), api_key: None }
    }

    /// Pays for requests with `api_key` (`Authorization: Bearer`).
    pub fn with_api_key(mut self, api_key: Option<String>) -> Client {
        self.api_key = api_key;
        self
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn unreachable(&self, err: reqwest::Error) -> ClientError {
        ClientError::Unreachable { url: self.base.clone(), reason: err.to_string() }
    }

    async fn check(&self, response: reqwest::Response) -> Result<reqwest::Response, ClientError> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let text = response.text().await.unwrap_or_default();
        let (code, message) = match serde_json::from_str::<ErrorBody>(&text) {
            Ok(body) => (body.error.code, body.error.message),
            Err(_) => ("unknown".to_owned(), text.chars().take(300).collect()),
        };
        Err(ClientError::Refused { status: status.as_u16(), code, message })
    }

    /// An answer's JSON body as the type the API documents for it.
    async fn read<T: DeserializeOwned>(&self, path: &str, response: reqwest::Response) -> Result<T, ClientError> {
        let bytes = response.bytes().await.map_err(|e| self.unreachable(e))?;
        serde_json::from_slice(&bytes)
            .map_err(|err| ClientError::Malformed { url: self.url(path), reason: err.to_string() })
    }

    /// `GET path`, its answer as `T`.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let response = self.http.get(self.url(path)).send().await.map_err(|e| self.unreachable(e))?;
        let response = self.check(response).await?;
        self.read(path, response).await
    }

    /// `POST path` with a JSON body, giving the answer as `T` and its headers.
    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<(T, reqwest::header::HeaderMap), ClientError> {
        let mut request = self.http.post(self.url(path)).json(body);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.map_err(|e| self.unreachable(e))?;
        let response = self.check(response).await?;
        let headers = response.headers().clone();
        Ok((self.read(path, response).await?, headers))
    }

    /// `POST path` with a JSON body signed by `key` (EIP-191, the `X-Veritas-*` headers), for
    /// this node's chain and gateway, with a fresh nonce.
    pub async fn post_signed<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        key: &veritas_primitives::WorkerKey,
    ) -> anyhow::Result<T> {
        use veritas_primitives::request::{
            ACCOUNT_HEADER, NONCE_HEADER, RequestScope, SIGNATURE_HEADER, SignedRequest, TIMESTAMP_HEADER,
            request_digest,
        };
        let network: veritas_node::wire::NetworkInfo = self.get("/v1/network").await?;
        let Some(gateway) = network.gateway else {
            anyhow::bail!("the node at {} is not a gateway: signed requests go to the network's gateway", self.base);
        };
        let scope = RequestScope { chain_id: network.claim_domain.chain_id, gateway };
        let bytes = serde_json::to_vec(body)?;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
        let nonce = veritas_primitives::hex::encode(alloy_primitives::B256::random());
        let request = SignedRequest { method: "POST", path, timestamp: now, nonce: &nonce, body: &bytes };
        let signature = key.sign_digest(&request_digest(&scope, &request))?;
        let response = self
            .http
            .post(self.url(path))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(ACCOUNT_HEADER, key.address().to_string())
            .header(TIMESTAMP_HEADER, now.to_string())
            .header(NONCE_HEADER, &nonce)
            .header(SIGNATURE_HEADER, veritas_primitives::hex::encode(signature))
            .body(bytes)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        let response = self.check(response).await?;
        Ok(self.read(path, response).await?)
    }

    /// Streams a file as the body of `POST path`, with a progress bar on a terminal.
    pub async fn upload<T: DeserializeOwned>(
        &self,
        path: &str,
        file: &Path,
        headers: &[(&'static str, String)],
        quiet: bool,
    ) -> anyhow::Result<T> {
        let size = tokio::fs::metadata(file).await?.len();
        let handle = tokio::fs::File::open(file).await?;
        let bar = progress(size, quiet);
        let progress_bar = bar.clone();
        let stream = futures_util::stream::unfold(handle, |mut handle| async move {
            use tokio::io::AsyncReadExt;
            let mut buf = vec![0u8; 256 << 10];
            match handle.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some((Ok::<_, std::io::Error>(buf), handle))
                }
                Err(err) => Some((Err(err), handle)),
            }
        })
        .inspect(move |chunk| {
            if let Ok(chunk) = chunk {
                progress_bar.inc(chunk.len() as u64);
            }
        });
        let mut request = self.http.post(self.url(path));
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = request
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .header(reqwest::header::CONTENT_LENGTH, size)
            .body(reqwest::Body::wrap_stream(stream))
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        bar.finish_and_clear();
        let response = self.check(response).await?;
        Ok(self.read(path, response).await?)
    }

    /// Downloads `GET path` into a file, with a progress bar on a terminal; returns the response
    /// headers.
    pub async fn download(&self, path: &str, file: &Path, quiet: bool) -> anyhow::Result<reqwest::header::HeaderMap> {
        use tokio::io::AsyncWriteExt;
        let response = self.http.get(self.url(path)).send().await.map_err(|e| self.unreachable(e))?;
        let response = self.check(response).await?;
        let headers = response.headers().clone();
        let bar = progress(response.content_length().unwrap_or(0), quiet);
        let partial = file.with_extension("part");
        let mut out = tokio::fs::File::create(&partial).await?;
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.unreachable(e))?;
            bar.inc(chunk.len() as u64);
            out.write_all(&chunk).await?;
        }
        out.sync_all().await?;
        tokio::fs::rename(&partial, file).await?;
        bar.finish_and_clear();
        Ok(headers)
    }
}

fn progress(size: u64, quiet: bool) -> ProgressBar {
    use std::io::IsTerminal;
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(size);
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}") {
        bar.set_style(style);
    }
    bar
}
