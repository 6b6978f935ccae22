//! The OpenAI-compatible endpoints: `POST /v1/chat/completions` and `POST /v1/completions`,
//! with server-sent events when `stream` is set. Every answer carries its receipt: a `veritas`
//! object in the body (in the final chunk when streaming) and the `X-Veritas-Receipt` header.

use std::{
    collections::BTreeMap,
    convert::Infallible,
    ops::ControlFlow,
    time::{SystemTime, UNIX_EPOCH},
};

use axum::{
    Json,
    extract::State,
    http::{HeaderValue, StatusCode},
    response::{
        IntoResponse, Response,
        sse::{Event, Sse},
    },
};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use veritas_node::{
    ChatRequest, ChatResponse, Node,
    llm::{ChatMessage, FinishReason, SamplingParams},
    wire::ChatInput,
};

use crate::{ApiError, auth::Paid, routes::AppState};

/// The default `max_tokens`.
const DEFAULT_MAX_TOKENS: u32 = 512;

/// `stop`: one string or a list.
#[derive(Deserialize)]
#[serde(untagged)]
enum Stop {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

/// The fields both endpoints take.
#[derive(Deserialize)]
struct Common {
    model: String,
    temperature: Option<f32>,
    top_p: Option<f32>,
    /// An extension: OpenAI has no top_k.
    top_k: Option<u32>,
    /// An extension: the verification mode (`signed`, `reexec` or, on a network with an
    /// enclave, `tee`; the node's default if absent).
    veritas_mode: Option<veritas_primitives::Mode>,
    /// An extension: a `tee` request's nonce (hex, at most 64 bytes), bound into the attestation.
    veritas_nonce: Option<String>,
    seed: Option<i64>,
    max_tokens: Option<u32>,
    max_completion_tokens: Option<u32>,
    stop: Option<Stop>,
    #[serde(default)]
    stream: bool,
    stream_options: Option<StreamOptions>,
    n: Option<u32>,
    presence_penalty: Option<f32>,
    frequency_penalty: Option<f32>,
    #[expect(dead_code, reason = "accepted so that clients sending it are not refused; not used")]
    user: Option<String>,
    /// Everything else, refused by name.
    #[serde(flatten)]
    unknown: BTreeMap<String, Value>,
}

#[derive(Deserialize)]
pub(crate) struct ChatBody {
    messages: Vec<ChatMessage>,
    #[serde(default)]
    logprobs: bool,
    top_logprobs: Option<u32>,
    #[serde(flatten)]
    common: Common,
}

#[derive(Deserialize)]
pub(crate) struct CompletionBody {
    prompt: String,
    logprobs: Option<u32>,
    #[serde(flatten)]
    common: Common,
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::bad_request(message)
}

impl Common {
    fn sampling(&self) -> Result<SamplingParams, ApiError> {
        if let Some(name) = self.unknown.keys().next() {
            return Err(invalid(format!("unknown parameter `{name}`")));
        }
        if self.n.is_some_and(|n| n != 1) {
            return Err(invalid("only n = 1 is supported"));
        }
        for (name, value) in
            [("presence_penalty", self.presence_penalty), ("frequency_penalty", self.frequency_penalty)]
        {
            if value.is_some_and(|v| v != 0.0) {
                return Err(invalid(format!("{name} is not supported (only 0)")));
            }
        }
        let seed = match self.seed {
            Some(seed) => {
                u32::try_from(seed).map_err(|_| invalid(format!("seed must be 0 to 4294967295, got {seed}")))?
            }
            // No seed: a fresh one, which the receipt records.
            None => u32::from_le_bytes(alloy_primitives::B256::random()[..4].try_into().unwrap_or_default()),
        };
        let stop = match &self.stop {
            None => Vec::new(),
            Some(Stop::One(one)) => vec![one.clone()],
            Some(Stop::Many(many)) => many.clone(),
        };
        let defaults = SamplingParams::default();
        let sampling = SamplingParams {
            temperature: self.temperature.unwrap_or(defaults.temperature),
            top_p: self.top_p.unwrap_or(defaults.top_p),
            top_k: self.top_k.unwrap_or(0),
            seed,
            max_tokens: self.max_completion_tokens.or(self.max_tokens).unwrap_or(DEFAULT_MAX_TOKENS),
            stop,
        };
        sampling.validate().map_err(|err| invalid(err.to_string()))?;
        Ok(sampling)
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Chat,
    Completion,
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn finish(reason: FinishReason) -> &'static str {
    match reason {
        FinishReason::Stop | FinishReason::Cancelled => "stop",
        FinishReason::Length => "length",
    }
}

fn usage(answer: &ChatResponse) -> Value {
    let (prompt, completion) = (answer.generation.prompt_tokens, answer.generation.tokens.len());
    json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion})
}

fn veritas(answer: &ChatResponse) -> Value {
    json!({"receipt_id": answer.receipt.id(), "model_id": answer.model.id, "receipt": answer.receipt})
}

fn logprobs_json(answer: &ChatResponse, kind: Kind) -> Value {
    let pieces = &answer.pieces;
    let logprobs = &answer.generation.logprobs;
    if logprobs.is_empty() {
        return Value::Null;
    }
    match kind {
        Kind::Chat => json!({"content": pieces.iter().zip(logprobs).map(|(token, logprob)| json!({
            "token": token, "logprob": logprob, "bytes": token.as_bytes(), "top_logprobs": [],
        })).collect::<Vec<_>>()}),
        Kind::Completion => json!({
            "tokens": pieces, "token_logprobs": logprobs,
            "top_logprobs": Value::Null, "text_offset": Value::Null,
        }),
    }
}

fn answer_json(answer: &ChatResponse, kind: Kind) -> Value {
    let id = veritas_node::completion_id(&answer.receipt.id());
    let choice = match kind {
        Kind::Chat => json!({
            "index": 0,
            "message": {"role": "assistant", "content": answer.generation.text},
            "finish_reason": finish(answer.generation.finish_reason),
            "logprobs": logprobs_json(answer, kind),
        }),
        Kind::Completion => json!({
            "index": 0,
            "text": answer.generation.text,
            "finish_reason": finish(answer.generation.finish_reason),
            "logprobs": logprobs_json(answer, kind),
        }),
    };
    json!({
        "id": id,
        "object": if kind == Kind::Chat { "chat.completion" } else { "text_completion" },
        "created": now(),
        "model": answer.model.name,
        "choices": [choice],
        "usage": usage(answer),
        "veritas": veritas(answer),
    })
}

fn receipt_header(response: &mut Response, answer: &ChatResponse) {
    if let Ok(value) = HeaderValue::from_str(&answer.receipt.id().to_string()) {
        response.headers_mut().insert("x-veritas-receipt", value);
    }
}

/// `POST /v1/chat/completions`.
pub(crate) async fn chat(State(state): State<AppState>, paid: Paid<ChatBody>) -> Result<Response, ApiError> {
    let body = paid.body;
    if body.top_logprobs.is_some_and(|n| n > 0) {
        return Err(invalid("top_logprobs is not supported (each token's own logprob is, with logprobs: true)"));
    }
    let sampling = body.common.sampling()?;
    let request = ChatRequest {
        model: body.common.model.clone(),
        input: ChatInput::Messages(body.messages),
        sampling,
        logprobs: body.logprobs,
        mode: body.common.veritas_mode,
        nonce: body.common.veritas_nonce.clone(),
    };
    run(state.node, request, paid.account, &body.common, Kind::Chat).await
}

/// `POST /v1/completions`.
pub(crate) async fn completion(
    State(state): State<AppState>,
    paid: Paid<CompletionBody>,
) -> Result<Response, ApiError> {
    let body = paid.body;
    let sampling = body.common.sampling()?;
    let request = ChatRequest {
        model: body.common.model.clone(),
        input: ChatInput::Prompt(body.prompt),
        sampling,
        logprobs: body.logprobs.is_some(),
        mode: body.common.veritas_mode,
        nonce: body.common.veritas_nonce.clone(),
    };
    run(state.node, request, paid.account, &body.common, Kind::Completion).await
}

enum Step {
    Text(String),
    Done(Box<Result<ChatResponse, ApiError>>),
}

async fn run(
    node: Node,
    request: ChatRequest,
    account: Option<veritas_primitives::Address>,
    common: &Common,
    kind: Kind,
) -> Result<Response, ApiError> {
    let gateway = node.gateway()?.clone();
    if !common.stream {
        let answer = gateway.chat(request, account, |_| ControlFlow::Continue(())).await?;
        let mut response = Json(answer_json(&answer, kind)).into_response();
        receipt_header(&mut response, &answer);
        return Ok(response);
    }
    let include_usage = common.stream_options.as_ref().is_some_and(|o| o.include_usage);
    // Unbounded: text is small, and the sender may be a blocking generation thread or (on a
    // gateway) an async relay of a worker's stream, which must not block.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Step>();
    let text_tx = tx.clone();
    tokio::spawn(async move {
        // A client that goes away drops the stream, the channel closes, and generation stops.
        let on_text = move |text: &str| match text_tx.send(Step::Text(text.to_owned())) {
            Ok(()) => ControlFlow::Continue(()),
            Err(_) => ControlFlow::Break(()),
        };
        let result = gateway.chat(request, account, on_text).await.map_err(ApiError::from);
        let _ = tx.send(Step::Done(Box::new(result)));
    });
    // Errors found before any text (unknown model, payment, prompt too long) are plain HTTP
    // errors; after that the stream has begun.
    let first = rx.recv().await.ok_or_else(|| {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the generation ended without an answer")
    })?;
    if let Step::Done(result) = &first
        && let Err(err) = result.as_ref()
    {
        return Err(ApiError::new(err.status, err.code, err.message.clone()));
    }
    let id = format!("chatcmpl-stream-{}", alloy_primitives::hex::encode(&alloy_primitives::B256::random()[..12]));
    let model = common.model.clone();
    let created = now();
    let object = if kind == Kind::Chat { "chat.completion.chunk" } else { "text_completion" };
    let chunk = move |choice: Value, extra: Option<(&str, Value)>| {
        let mut body = json!({"id": id, "object": object, "created": created, "model": model, "choices": [choice]});
        if let Some((key, value)) = extra {
            body[key] = value;
        }
        Event::default().data(body.to_string())
    };
    let text_choice = move |text: String| match kind {
        Kind::Chat => json!({"index": 0, "delta": {"content": text}, "finish_reason": null, "logprobs": null}),
        Kind::Completion => json!({"index": 0, "text": text, "finish_reason": null, "logprobs": null}),
    };
    let opening = (kind == Kind::Chat).then(|| {
        chunk(json!({"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}), None)
    });
    let steps = futures_util::stream::once(async move { first })
        .chain(futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|step| (step, rx)) }));
    let events = steps.flat_map(move |step| {
        let events: Vec<Event> = match step {
            Step::Text(text) => vec![chunk(text_choice(text), None)],
            Step::Done(result) => match *result {
                Ok(answer) => {
                    let last = match kind {
                        Kind::Chat => json!({"index": 0, "delta": {}, "finish_reason": finish(answer.generation.finish_reason), "logprobs": logprobs_json(&answer, kind)}),
                        Kind::Completion => json!({"index": 0, "text": "", "finish_reason": finish(answer.generation.finish_reason), "logprobs": logprobs_json(&answer, kind)}),
                    };
                    let mut events = vec![chunk(last, Some(("veritas", veritas(&answer))))];
                    if include_usage {
                        let id = veritas_node::completion_id(&answer.receipt.id());
                        let usage_chunk = json!({"id": id, "object": object, "choices": [], "usage": usage(&answer)});
                        events.push(Event::default().data(usage_chunk.to_string()));
                    }
                    events.push(Event::default().data("[DONE]"));
                    events
                }
                Err(err) => vec![
                    Event::default().data(json!({"error": {"code": err.code, "message": err.message}}).to_string()),
                    Event::default().data("[DONE]"),
                ],
            },
        };
        futures_util::stream::iter(events.into_iter().map(Ok::<_, Infallible>))
    });
    let events = futures_util::stream::iter(opening.into_iter().map(Ok::<_, Infallible>)).chain(events);
    Ok(Sse::new(events).into_response())
}

/// `POST /v1/work/chat`: a gateway's chat request to this inference node, answered as
/// newline-delimited JSON events: text pieces, then the generation with its signed receipt.
pub(crate) async fn work_chat(
    State(state): State<AppState>,
    body: Result<Json<veritas_node::wire::WorkChat>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    use veritas_node::wire::WorkChatEvent;
    let Json(work) = body.map_err(|err| invalid(format!("malformed work request: {}", err.body_text())))?;
    let worker = state.node.worker()?.clone();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<WorkChatEvent>();
    let text_tx = tx.clone();
    tokio::spawn(async move {
        let on_text = move |text: &str| match text_tx.send(WorkChatEvent::Text(text.to_owned())) {
            Ok(()) => ControlFlow::Continue(()),
            Err(_) => ControlFlow::Break(()),
        };
        let event = match worker.work_chat(work, on_text).await {
            Ok(answer) => WorkChatEvent::Done(Box::new(veritas_node::wire::WorkChatDone {
                generation: answer.generation,
                pieces: answer.pieces,
                receipt: answer.receipt,
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
