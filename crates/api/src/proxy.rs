//! `veritas proxy`: a local OpenAI-compatible endpoint in front of a veritas node, so that any
//! tool that speaks the OpenAI API gets verified answers with no change. Each request is
//! forwarded as it came (with its API key or signature); each answer's receipt is fetched as the
//! node stores it and verified here before the client sees the end of the answer: a plain
//! answer that does not hold is replaced by a 502 naming the failed check, and a streamed one
//! ends with an error event instead of `[DONE]`. With `--require quorum` or `settled` the proxy
//! also waits until validators' verdicts (or the settlement) are in the receipt. Verified
//! receipts are kept on disk, one file per receipt id, byte for byte as the node sent them.

use std::{convert::Infallible, path::PathBuf, sync::Arc, time::Duration};

use axum::{
    Router,
    body::{Body, Bytes},
    extract::State,
    http::{HeaderMap, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
};
use futures_util::StreamExt;
use veritas_node::{Upstream, wire::ErrorBody};
use veritas_primitives::{B256, Receipt, Values};
use veritas_verifier::{Badge, Expectations, badge, tee::Policy, verify_receipt};

use crate::ApiError;

/// What a proxy demands of a receipt before it passes an answer on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Require {
    /// The receipt holds: the worker's signature, the hashes, the model, a `tee` attestation or
    /// a `zk` proof (what the client checks by itself, at once).
    Signed,
    /// And validators holding more than 2/3 of the stake judged it valid.
    Quorum,
    /// And it is settled in a batch on chain (its Merkle path checked; the chain is not asked).
    Settled,
}

impl std::str::FromStr for Require {
    type Err = String;

    fn from_str(text: &str) -> Result<Require, String> {
        match text {
            "signed" => Ok(Require::Signed),
            "quorum" => Ok(Require::Quorum),
            "settled" => Ok(Require::Settled),
            other => Err(format!("--require {other:?}: expected signed, quorum or settled")),
        }
    }
}

impl Require {
    fn met_by(self, badge: Badge) -> bool {
        match self {
            Require::Signed => badge != Badge::Invalid,
            Require::Quorum => matches!(badge, Badge::Verified | Badge::Settled),
            Require::Settled => badge == Badge::Settled,
        }
    }
}

/// How a proxy runs.
#[derive(Clone, Debug)]
pub struct ProxyConfig {
    /// The node forwarded to (`http://host:port`).
    pub upstream: String,
    /// What a receipt must show before its answer is passed on.
    pub require: Require,
    /// The enclaves `tee` receipts may come from; `None`: the policy the upstream publishes.
    pub tee_policy: Option<Policy>,
    /// Where verified receipts are kept; `None`: nowhere.
    pub receipts: Option<PathBuf>,
    /// How long to wait for a quorum or a settlement.
    pub wait: Duration,
}

struct Proxy {
    upstream: Upstream,
    require: Require,
    policy: Arc<Policy>,
    receipts: Option<PathBuf>,
    wait: Duration,
}

/// The proxy's router. Without a policy of its own it takes the one the upstream publishes (and
/// none, accepting no enclave, when the upstream publishes none).
pub async fn proxy_router(config: ProxyConfig) -> Router {
    let upstream = Upstream::new(&config.upstream);
    let policy = match config.tee_policy {
        Some(policy) => policy,
        None => match upstream.text("/v1/tee/policy").await {
            Ok(text) => serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|info| serde_json::from_value(info["policy"].clone()).ok())
                .unwrap_or_default(),
            Err(err) => {
                tracing::warn!(%err, "the upstream's TEE policy could not be read: tee receipts will be refused");
                Policy::default()
            }
        },
    };
    let proxy = Arc::new(Proxy {
        upstream,
        require: config.require,
        policy: Arc::new(policy),
        receipts: config.receipts,
        wait: config.wait,
    });
    Router::new().fallback(forward).with_state(proxy)
}

/// Why an answer is not passed on: the failed check and what was found.
struct Refusal {
    check: &'static str,
    message: String,
}

impl Refusal {
    fn body(&self) -> ErrorBody {
        ErrorBody {
            error: veritas_node::wire::ErrorDetail {
                code: "invalid_receipt".into(),
                message: format!(
                    "veritas proxy: the answer's receipt fails its {} check: {}",
                    self.check, self.message
                ),
                ..Default::default()
            },
        }
    }

    fn response(&self) -> Response {
        (StatusCode::BAD_GATEWAY, axum::Json(self.body())).into_response()
    }
}

/// The headers of a client's request that the upstream needs: its content type and how it pays.
const FORWARDED: [&str; 6] = [
    "content-type",
    "authorization",
    "x-veritas-account",
    "x-veritas-timestamp",
    "x-veritas-nonce",
    "x-veritas-signature",
];

/// The answers that carry a receipt to verify, by route.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Chat,
    Completion,
    Infer,
}

async fn forward(
    State(proxy): State<Arc<Proxy>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str()).to_owned();
    let kind = match (method.as_str(), uri.path()) {
        ("POST", "/v1/chat/completions") => Some(Kind::Chat),
        ("POST", "/v1/completions") => Some(Kind::Completion),
        ("POST", "/v1/infer") => Some(Kind::Infer),
        ("GET", _) => None,
        (method, route) => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_proxied",
                format!(
                    "veritas proxy forwards GET requests and the answers it can verify (POST /v1/chat/completions, \
                     /v1/completions, /v1/infer), not {method} {route}"
                ),
            ));
        }
    };
    let streamed = kind.is_some()
        && serde_json::from_slice::<serde_json::Value>(&body).is_ok_and(|request| request["stream"] == true);
    let sent: Vec<(String, String)> = FORWARDED
        .iter()
        .filter_map(|name| Some((name.to_string(), headers.get(*name)?.to_str().ok()?.to_owned())))
        .collect();
    let answer = proxy.upstream.forward(method.as_str(), &path, &sent, body.to_vec()).await.map_err(|err| {
        ApiError::new(StatusCode::BAD_GATEWAY, "upstream_unreachable", format!("veritas proxy: {err}"))
    })?;
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut response = Response::builder().status(status);
    for (name, value) in &answer.headers {
        response = response.header(*name, value);
    }
    // Errors and what carries no receipt go through as they came.
    let Some(kind) = kind.filter(|_| status.is_success()) else {
        return Ok(response.body(Body::from_stream(answer.body)).unwrap_or_default());
    };
    if streamed {
        let events = relay_stream(proxy, kind, answer.body);
        return Ok(response.body(Body::from_stream(events)).unwrap_or_default());
    }
    let mut bytes = Vec::new();
    let mut body = answer.body;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|err| ApiError::new(StatusCode::BAD_GATEWAY, "upstream_failed", err))?;
        bytes.extend_from_slice(&chunk);
    }
    if let Err(refusal) = proxy.check_answer(kind, &bytes).await {
        return Ok(refusal.response());
    }
    Ok(response.body(Body::from(bytes)).unwrap_or_default())
}

impl Proxy {
    /// A whole answer: its receipt id, and what it shows, checked against its receipt.
    async fn check_answer(&self, kind: Kind, bytes: &[u8]) -> Result<(), Refusal> {
        let refuse = |message: &str| Refusal { check: "receipt", message: message.to_owned() };
        let answer: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|_| refuse("the upstream's answer is not JSON"))?;
        let id = match kind {
            Kind::Infer => &answer["receipt_id"],
            Kind::Chat | Kind::Completion => &answer["veritas"]["receipt_id"],
        };
        let id: B256 = serde_json::from_value(id.clone()).map_err(|_| refuse("the answer carries no receipt id"))?;
        let shown = match kind {
            Kind::Chat => {
                let message = &answer["choices"][0]["message"];
                let calls = message["tool_calls"]
                    .as_array()
                    .map(|calls| {
                        calls
                            .iter()
                            .map(|call| {
                                let function = &call["function"];
                                let text = |key: &str| function[key].as_str().unwrap_or_default().to_owned();
                                (text("name"), text("arguments"))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                Shown::Chat(message["content"].as_str().unwrap_or_default().to_owned(), calls)
            }
            Kind::Completion => Shown::Text(answer["choices"][0]["text"].as_str().unwrap_or_default().to_owned()),
            Kind::Infer => Shown::Output(
                serde_json::from_value(answer["output"].clone())
                    .map_err(|_| refuse("the answer's output is not values"))?,
            ),
        };
        self.verify(id, &shown).await
    }

    /// Fetches the receipt as the node stores it and verifies it: it holds, it signs what the
    /// client was shown, and it meets the requirement (waiting for it up to the proxy's limit).
    async fn verify(&self, id: B256, shown: &Shown) -> Result<(), Refusal> {
        let started = std::time::Instant::now();
        loop {
            let text = self
                .upstream
                .text(&format!("/v1/receipts/{id}"))
                .await
                .map_err(|err| Refusal { check: "receipt", message: format!("it cannot be fetched: {err}") })?;
            let receipt: Receipt = serde_json::from_str(&text)
                .map_err(|err| Refusal { check: "receipt", message: format!("not a receipt: {err}") })?;
            if receipt.id() != id {
                return Err(Refusal {
                    check: "receipt",
                    message: format!("the node answered another receipt for {id}"),
                });
            }
            let result =
                verify_receipt(&receipt, &Expectations { tee_policy: self.policy.clone(), ..Default::default() });
            let holds = badge(&result);
            if let Err(err) = result {
                return Err(Refusal { check: err.check(), message: err.to_string() });
            }
            shown.signed_by(&receipt)?;
            if self.require.met_by(holds) {
                self.keep(id, &text);
                return Ok(());
            }
            if started.elapsed() >= self.wait {
                let (check, what) = match self.require {
                    Require::Settled => ("batch", "settled"),
                    _ => ("quorum", "judged valid by a quorum of validators"),
                };
                return Err(Refusal {
                    check,
                    message: format!("not {what} within {} s (--require)", self.wait.as_secs()),
                });
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Keeps a verified receipt on disk, as the node sent it.
    fn keep(&self, id: B256, text: &str) {
        let Some(dir) = &self.receipts else { return };
        let written = std::fs::create_dir_all(dir).and_then(|()| std::fs::write(dir.join(format!("{id}.json")), text));
        if let Err(err) = written {
            tracing::warn!(%err, dir = %dir.display(), "a verified receipt could not be kept");
        }
    }
}

/// What the client was shown of an answer.
enum Shown {
    /// A language model's text.
    Text(String),
    /// A chat answer: its content and the tools it calls (name, arguments).
    Chat(String, Vec<(String, String)>),
    /// A model's outputs.
    Output(Values),
}

impl Shown {
    fn signed_by(&self, receipt: &Receipt) -> Result<(), Refusal> {
        let output = receipt.body.output.as_ref();
        let same = match self {
            Shown::Text(text) => {
                veritas_node::protocol::admission::string_value(output, "text").as_deref() == Some(text.as_str())
            }
            Shown::Chat(content, calls) => {
                let signed = veritas_node::protocol::admission::string_value(output, "text").unwrap_or_default();
                (calls.is_empty() && *content == signed) || {
                    // The calls are read out of the signed text as the node reads them.
                    let (signed_content, signed_calls) = veritas_node::llm::read_tool_calls(&signed);
                    let json = |text: &str| serde_json::from_str::<serde_json::Value>(text).ok();
                    *content == signed_content
                        && calls.len() == signed_calls.len()
                        && calls.iter().zip(&signed_calls).all(
                            |((name, arguments), (signed_name, signed_arguments))| {
                                name == signed_name
                                    && json(arguments).is_some()
                                    && json(arguments) == json(signed_arguments)
                            },
                        )
                }
            }
            Shown::Output(values) => output == Some(values),
        };
        if same {
            Ok(())
        } else {
            Err(Refusal { check: "output", message: "what the answer shows is not what its receipt signs".into() })
        }
    }
}

/// Relays a streamed answer's events as they come, holding back the one that carries the
/// receipt and everything after it until the receipt is verified against the text streamed; a
/// receipt that fails ends the stream with an error event instead of `[DONE]`.
fn relay_stream(
    proxy: Arc<Proxy>,
    kind: Kind,
    mut body: futures_util::stream::BoxStream<'static, Result<Vec<u8>, String>>,
) -> impl futures_util::Stream<Item = Result<Bytes, Infallible>> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Bytes>();
    tokio::spawn(async move {
        let (mut buffer, mut text, mut held, mut receipt) = (String::new(), String::new(), Vec::new(), None);
        // Streamed tool calls, by index: name and arguments, as the deltas add them.
        let mut calls: std::collections::BTreeMap<u64, (String, String)> = Default::default();
        let mut failed = None;
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(err) => {
                    failed = Some(Refusal { check: "receipt", message: format!("the stream broke off: {err}") });
                    break;
                }
            };
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let event: String = buffer.drain(..end + 2).collect();
                let data: String = event
                    .lines()
                    .filter_map(|line| line.strip_prefix("data:").map(str::trim_start))
                    .collect::<Vec<_>>()
                    .join("\n");
                let parsed = serde_json::from_str::<serde_json::Value>(&data).ok();
                if let Some(id) = parsed.as_ref().and_then(|chunk| chunk["veritas"]["receipt_id"].as_str()) {
                    receipt = id.parse::<B256>().ok();
                }
                if receipt.is_some() || data == "[DONE]" {
                    held.push(event);
                    continue;
                }
                if let Some(chunk) = &parsed {
                    let piece = match kind {
                        Kind::Chat => chunk["choices"][0]["delta"]["content"].as_str(),
                        _ => chunk["choices"][0]["text"].as_str(),
                    };
                    text.push_str(piece.unwrap_or_default());
                    for delta in chunk["choices"][0]["delta"]["tool_calls"].as_array().into_iter().flatten() {
                        let call = calls.entry(delta["index"].as_u64().unwrap_or_default()).or_default();
                        call.0.push_str(delta["function"]["name"].as_str().unwrap_or_default());
                        call.1.push_str(delta["function"]["arguments"].as_str().unwrap_or_default());
                    }
                }
                if tx.send(Bytes::from(event)).is_err() {
                    return;
                }
            }
        }
        let verdict = match (failed, receipt) {
            (Some(refusal), _) => Err(refusal),
            (None, None) => Err(Refusal { check: "receipt", message: "the stream ended without a receipt".into() }),
            (None, Some(id)) => {
                let shown = match kind {
                    Kind::Chat => Shown::Chat(text, calls.into_values().collect()),
                    _ => Shown::Text(text),
                };
                proxy.verify(id, &shown).await
            }
        };
        match verdict {
            Ok(()) => {
                for event in held {
                    let _ = tx.send(Bytes::from(event));
                }
            }
            Err(refusal) => {
                let error = serde_json::to_string(&refusal.body()).unwrap_or_default();
                let _ = tx.send(Bytes::from(format!("data: {error}\n\n")));
            }
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|bytes| (Ok(bytes), rx)) })
}

/// Serves a proxy on `listener` until `shutdown` resolves.
pub async fn serve_proxy(
    listener: tokio::net::TcpListener,
    config: ProxyConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, proxy_router(config).await).with_graceful_shutdown(shutdown).await
}
