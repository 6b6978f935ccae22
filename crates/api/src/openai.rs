//! The OpenAI-compatible endpoints: `POST /v1/chat/completions` and `POST /v1/completions`,
//! with server-sent events when `stream` is set. Every answer carries its receipt: a `veritas`
//! object in the body (in the final chunk when streaming) and the `X-Veritas-Receipt` header.

use std::{
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
use serde::Serialize;
use veritas_node::{
    ChatRequest, ChatResponse, Node,
    llm::{FinishReason, SamplingParams},
    wire::{
        ChatInput, ErrorBody,
        openai::{
            AssistantMessage, ChatChoice, ChatChunk, ChatCompletion, ChatCompletionRequest, ChatLogprobs, ChunkChoice,
            CompletionOptions, CompletionRequest, Delta, FunctionDelta, TextChoice, TextChunk, TextChunkChoice,
            TextCompletion, TextLogprobs, TokenLogprob, ToolCallDelta, TopLogprob, Usage, VeritasReceipt,
        },
    },
};

use crate::{ApiError, auth::Paid, routes::AppState};

/// The default `max_tokens`.
const DEFAULT_MAX_TOKENS: u32 = 512;

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::bad_request(message)
}

/// The sampling parameters of a request's options, every value checked; a fresh seed (which
/// the receipt records) when the request names none.
fn sampling(options: &CompletionOptions) -> Result<SamplingParams, ApiError> {
    if let Some(name) = options.unknown.keys().next() {
        return Err(invalid(format!("unknown parameter `{name}`")));
    }
    if options.n.is_some_and(|n| n != 1) {
        return Err(invalid("only n = 1 is supported"));
    }
    for (name, value) in
        [("presence_penalty", options.presence_penalty), ("frequency_penalty", options.frequency_penalty)]
    {
        if value.is_some_and(|v| v != 0.0) {
            return Err(invalid(format!("{name} is not supported (only 0)")));
        }
    }
    let seed = match options.seed {
        Some(seed) => u32::try_from(seed).map_err(|_| invalid(format!("seed must be 0 to 4294967295, got {seed}")))?,
        None => u32::from_le_bytes(alloy_primitives::B256::random()[..4].try_into().unwrap_or_default()),
    };
    let defaults = SamplingParams::default();
    let sampling = SamplingParams {
        temperature: options.temperature.unwrap_or(defaults.temperature),
        top_p: options.top_p.unwrap_or(defaults.top_p),
        top_k: options.top_k.unwrap_or(0),
        seed,
        max_tokens: options.max_completion_tokens.or(options.max_tokens).unwrap_or(DEFAULT_MAX_TOKENS),
        stop: options.stop.as_ref().map(|stop| stop.sequences()).unwrap_or_default(),
    };
    sampling.validate().map_err(|err| invalid(err.to_string()))?;
    Ok(sampling)
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Chat,
    Completion,
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn finish(reason: FinishReason, calls: bool) -> &'static str {
    match reason {
        _ if calls => "tool_calls",
        FinishReason::Stop | FinishReason::Cancelled => "stop",
        FinishReason::Length => "length",
    }
}

/// A tool call's id: `call_` and 24 hex digits of a hash of what names the answer (its receipt,
/// or its stream) and the call's place in it.
fn call_id(answer: &[u8], index: usize) -> String {
    let mut bytes = answer.to_vec();
    bytes.extend_from_slice(&(index as u64).to_be_bytes());
    format!("call_{}", alloy_primitives::hex::encode(&alloy_primitives::keccak256(bytes)[..12]))
}

fn usage(answer: &ChatResponse) -> Usage {
    let (prompt, completion) = (answer.generation.prompt_tokens, answer.generation.tokens.len());
    Usage { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion }
}

fn veritas(answer: &ChatResponse) -> VeritasReceipt {
    VeritasReceipt {
        receipt_id: answer.receipt.id(),
        model_id: answer.model.id,
        receipt: answer.receipt.clone(),
        sealed: answer.sealed.clone(),
    }
}

fn chat_logprobs(answer: &ChatResponse) -> Option<ChatLogprobs> {
    let logprobs = &answer.generation.logprobs;
    (!logprobs.is_empty()).then(|| ChatLogprobs {
        content: answer
            .pieces
            .iter()
            .zip(logprobs)
            .enumerate()
            .map(|(i, (token, logprob))| TokenLogprob {
                token: token.clone(),
                logprob: *logprob,
                bytes: token.as_bytes().to_vec(),
                top_logprobs: answer
                    .generation
                    .top_logprobs
                    .get(i)
                    .zip(answer.top_pieces.get(i))
                    .map(|(top, pieces)| {
                        top.iter()
                            .zip(pieces)
                            .map(|((_, logprob), piece)| TopLogprob {
                                token: piece.clone(),
                                logprob: *logprob,
                                bytes: piece.as_bytes().to_vec(),
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            })
            .collect(),
    })
}

fn text_logprobs(answer: &ChatResponse) -> Option<TextLogprobs> {
    let logprobs = &answer.generation.logprobs;
    (!logprobs.is_empty()).then(|| TextLogprobs {
        tokens: answer.pieces.clone(),
        token_logprobs: logprobs.clone(),
        top_logprobs: None,
        text_offset: None,
    })
}

fn receipt_header(response: &mut Response, answer: &ChatResponse) {
    if let Ok(value) = HeaderValue::from_str(&answer.receipt.id().to_string()) {
        response.headers_mut().insert("x-veritas-receipt", value);
    }
}

/// Chat with a language model (GGUF). Each answer carries its receipt under `veritas` (in the
/// last chunk when streaming) and in the `X-Veritas-Receipt` header; the receipt's input is the
/// messages and the prompt rendered with the model's own chat template.
#[utoipa::path(post, path = "/v1/chat/completions", tag = "openai", request_body = ChatCompletionRequest, responses(
    (status = 200, description = "The answer, or server-sent `ChatChunk` events ending with `[DONE]` when `stream` is set", body = ChatCompletion),
    (status = 400, description = "A bad request: the message names what is wrong", body = ErrorBody),
    (status = 401, description = "An unknown API key or a signature that does not hold", body = ErrorBody),
    (status = 402, description = "The paying account cannot cover the price", body = ErrorBody),
    (status = 404, description = "No such model", body = ErrorBody),
))]
pub(crate) async fn chat(
    State(state): State<AppState>,
    paid: Paid<ChatCompletionRequest>,
) -> Result<Response, ApiError> {
    let body = paid.body;
    let top_logprobs = match body.top_logprobs {
        None | Some(0) => 0,
        Some(n) if n > u32::from(veritas_node::llm::MAX_TOP_LOGPROBS) => {
            return Err(invalid(format!("top_logprobs must be 0 to {}, got {n}", veritas_node::llm::MAX_TOP_LOGPROBS)));
        }
        Some(_) if !body.logprobs => return Err(invalid("top_logprobs needs logprobs: true")),
        Some(n) => n as u8,
    };
    let constraint = body.constraint();
    let input = match body.options.veritas_sealed.clone() {
        Some(_) if !body.messages.is_empty() => {
            return Err(invalid("a confidential request carries its messages sealed only: `messages` must be empty"));
        }
        Some(sealed) => ChatInput::Sealed(sealed),
        None => ChatInput::Messages(body.messages),
    };
    let request = ChatRequest {
        model: body.options.model.clone(),
        input,
        sampling: sampling(&body.options)?,
        logprobs: body.logprobs,
        mode: body.options.veritas_mode,
        nonce: body.options.veritas_nonce.clone(),
        top_logprobs,
        constraint,
    };
    run(state.node, request, paid.account, &body.options, Kind::Chat).await
}

/// Complete a raw prompt with a language model (GGUF), OpenAI's legacy completions.
#[utoipa::path(post, path = "/v1/completions", tag = "openai", request_body = CompletionRequest, responses(
    (status = 200, description = "The answer, or server-sent `TextChunk` events ending with `[DONE]` when `stream` is set", body = TextCompletion),
    (status = 400, description = "A bad request: the message names what is wrong", body = ErrorBody),
    (status = 401, description = "An unknown API key or a signature that does not hold", body = ErrorBody),
    (status = 402, description = "The paying account cannot cover the price", body = ErrorBody),
    (status = 404, description = "No such model", body = ErrorBody),
))]
pub(crate) async fn completion(
    State(state): State<AppState>,
    paid: Paid<CompletionRequest>,
) -> Result<Response, ApiError> {
    let body = paid.body;
    let input = match body.options.veritas_sealed.clone() {
        Some(_) if !body.prompt.is_empty() => {
            return Err(invalid("a confidential request carries its prompt sealed only: `prompt` must be empty"));
        }
        Some(sealed) => ChatInput::Sealed(sealed),
        None => ChatInput::Prompt(body.prompt),
    };
    let request = ChatRequest {
        model: body.options.model.clone(),
        input,
        sampling: sampling(&body.options)?,
        logprobs: body.logprobs.is_some(),
        mode: body.options.veritas_mode,
        nonce: body.options.veritas_nonce.clone(),
        top_logprobs: 0,
        constraint: Default::default(),
    };
    run(state.node, request, paid.account, &body.options, Kind::Completion).await
}

/// A whole answer in its endpoint's shape; with `tools`, its calls are read out of the text.
fn answer_json(answer: &ChatResponse, kind: Kind, tools: bool) -> Response {
    let receipt_id = answer.receipt.id();
    let id = veritas_node::completion_id(&receipt_id);
    let (model, created, usage, veritas) = (answer.model.name.clone(), now(), usage(answer), veritas(answer));
    let (content, calls) = if tools {
        veritas_node::llm::read_tool_calls(&answer.generation.text)
    } else {
        (answer.generation.text.clone(), Vec::new())
    };
    let finish_reason = finish(answer.generation.finish_reason, !calls.is_empty()).to_owned();
    let tool_calls: Vec<veritas_node::llm::ToolCall> = calls
        .into_iter()
        .enumerate()
        .map(|(i, (name, arguments))| veritas_node::llm::ToolCall {
            id: call_id(receipt_id.as_slice(), i),
            kind: "function".into(),
            function: veritas_node::llm::FunctionCall { name, arguments },
        })
        .collect();
    let content = (tool_calls.is_empty() || !content.is_empty()).then_some(content);
    match kind {
        Kind::Chat => Json(ChatCompletion {
            id,
            object: "chat.completion".into(),
            created,
            model,
            choices: vec![ChatChoice {
                index: 0,
                message: AssistantMessage { role: "assistant".into(), content, tool_calls },
                finish_reason,
                logprobs: chat_logprobs(answer),
            }],
            usage,
            veritas,
        })
        .into_response(),
        Kind::Completion => Json(TextCompletion {
            id,
            object: "text_completion".into(),
            created,
            model,
            choices: vec![TextChoice {
                index: 0,
                text: answer.generation.text.clone(),
                finish_reason,
                logprobs: text_logprobs(answer),
            }],
            usage,
            veritas,
        })
        .into_response(),
    }
}

enum Step {
    Text(String),
    Done(Box<Result<ChatResponse, ApiError>>),
}

/// One streamed chunk: what every chunk of a stream shares, and what this one adds.
struct Chunks {
    id: String,
    model: String,
    created: u64,
    kind: Kind,
    /// With tools in play: the reader of calls out of the text, and the calls so far.
    tools: Option<std::sync::Mutex<(veritas_node::llm::ToolStream, usize)>>,
}

impl Chunks {
    fn event(&self, chunk: &impl Serialize) -> Event {
        Event::default().data(serde_json::to_string(chunk).unwrap_or_default())
    }

    fn object(&self) -> String {
        if self.kind == Kind::Chat { "chat.completion.chunk" } else { "text_completion" }.into()
    }

    /// A chunk of the chat kind.
    fn chat(&self, choice: Option<ChunkChoice>, usage: Option<Usage>, veritas: Option<VeritasReceipt>) -> Event {
        let (id, object, created, model) = (self.id.clone(), self.object(), self.created, self.model.clone());
        self.event(&ChatChunk { id, object, created, model, choices: choice.into_iter().collect(), usage, veritas })
    }

    /// A chunk of the completion kind.
    fn text(&self, choice: Option<TextChunkChoice>, usage: Option<Usage>, veritas: Option<VeritasReceipt>) -> Event {
        let (id, object, created, model) = (self.id.clone(), self.object(), self.created, self.model.clone());
        self.event(&TextChunk { id, object, created, model, choices: choice.into_iter().collect(), usage, veritas })
    }

    /// The first chunk: the assistant's role (chat only).
    fn opening(&self) -> Option<Event> {
        let delta = Delta { role: Some("assistant".into()), content: Some(String::new()), tool_calls: None };
        (self.kind == Kind::Chat)
            .then(|| self.chat(Some(ChunkChoice { index: 0, delta, finish_reason: None, logprobs: None }), None, None))
    }

    /// A piece of text: its events (with tools in play, content as it comes and each call
    /// when its block closes, or nothing while a call is being written).
    fn piece(&self, text: String) -> Vec<Event> {
        match (&self.tools, self.kind) {
            (Some(tools), _) => {
                let pieces = tools.lock().unwrap_or_else(|p| p.into_inner()).0.push(&text);
                self.tool_pieces(pieces)
            }
            (None, Kind::Chat) => vec![self.content(text)],
            (None, Kind::Completion) => {
                vec![self.text(
                    Some(TextChunkChoice { index: 0, text, finish_reason: None, logprobs: None }),
                    None,
                    None,
                )]
            }
        }
    }

    fn content(&self, text: String) -> Event {
        let delta = Delta { role: None, content: Some(text), tool_calls: None };
        self.chat(Some(ChunkChoice { index: 0, delta, finish_reason: None, logprobs: None }), None, None)
    }

    /// Content and whole calls as chunks: a call in two, OpenAI's way (its id, type and name
    /// with empty arguments, then the arguments).
    fn tool_pieces(&self, pieces: Vec<veritas_node::llm::Piece>) -> Vec<Event> {
        let mut events = Vec::new();
        for piece in pieces {
            match piece {
                veritas_node::llm::Piece::Content(text) => events.push(self.content(text)),
                veritas_node::llm::Piece::Call { index, name, arguments } => {
                    if let Some(tools) = &self.tools {
                        tools.lock().unwrap_or_else(|p| p.into_inner()).1 = index + 1;
                    }
                    let call = |first: bool, function: FunctionDelta| ToolCallDelta {
                        index,
                        id: first.then(|| call_id(self.id.as_bytes(), index)),
                        kind: first.then(|| "function".to_owned()),
                        function,
                    };
                    let opening = call(true, FunctionDelta { name: Some(name), arguments: Some(String::new()) });
                    let rest = call(false, FunctionDelta { name: None, arguments: Some(arguments) });
                    for delta in [opening, rest] {
                        let delta = Delta { role: None, content: None, tool_calls: Some(vec![delta]) };
                        events.push(self.chat(
                            Some(ChunkChoice { index: 0, delta, finish_reason: None, logprobs: None }),
                            None,
                            None,
                        ));
                    }
                }
            }
        }
        events
    }

    /// The last chunks: the finish reason with the receipt, the usage if asked for, `[DONE]`.
    fn end(&self, answer: &ChatResponse, include_usage: bool) -> Vec<Event> {
        let mut events = Vec::new();
        let mut calls = false;
        if let Some(tools) = &self.tools {
            let rest = tools.lock().unwrap_or_else(|p| p.into_inner()).0.finish();
            events.extend(self.tool_pieces(rest));
            // Read after the rest: a call may close in it.
            calls = tools.lock().unwrap_or_else(|p| p.into_inner()).1 > 0;
        }
        let finish_reason = Some(finish(answer.generation.finish_reason, calls).to_owned());
        events.push(match self.kind {
            Kind::Chat => {
                let choice =
                    ChunkChoice { index: 0, delta: Delta::default(), finish_reason, logprobs: chat_logprobs(answer) };
                self.chat(Some(choice), None, Some(veritas(answer)))
            }
            Kind::Completion => {
                let choice =
                    TextChunkChoice { index: 0, text: String::new(), finish_reason, logprobs: text_logprobs(answer) };
                self.text(Some(choice), None, Some(veritas(answer)))
            }
        });
        if include_usage {
            let usage = Chunks { id: veritas_node::completion_id(&answer.receipt.id()), ..self.clone_meta() };
            events.push(match self.kind {
                Kind::Chat => usage.chat(None, Some(self::usage(answer)), None),
                Kind::Completion => usage.text(None, Some(self::usage(answer)), None),
            });
        }
        events.push(Event::default().data("[DONE]"));
        events
    }

    fn clone_meta(&self) -> Chunks {
        Chunks { id: self.id.clone(), model: self.model.clone(), created: self.created, kind: self.kind, tools: None }
    }
}

async fn run(
    node: Node,
    request: ChatRequest,
    account: Option<veritas_primitives::Address>,
    options: &CompletionOptions,
    kind: Kind,
) -> Result<Response, ApiError> {
    let gateway = node.gateway()?.clone();
    let tools = !request.constraint.tools_in_play().is_empty();
    if !options.stream {
        let answer = gateway.chat(request, account, |_| ControlFlow::Continue(())).await?;
        let mut response = answer_json(&answer, kind, tools);
        receipt_header(&mut response, &answer);
        return Ok(response);
    }
    let include_usage = options.stream_options.as_ref().is_some_and(|o| o.include_usage);
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
    let stream_id = alloy_primitives::hex::encode(&alloy_primitives::B256::random()[..12]);
    let chunks = Chunks {
        id: format!("chatcmpl-stream-{stream_id}"),
        model: options.model.clone(),
        created: now(),
        kind,
        tools: tools.then(|| std::sync::Mutex::new((veritas_node::llm::ToolStream::new(), 0))),
    };
    let opening = chunks.opening();
    let steps = futures_util::stream::once(async move { first })
        .chain(futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|step| (step, rx)) }));
    let events = steps.flat_map(move |step| {
        let events: Vec<Event> = match step {
            Step::Text(text) => chunks.piece(text),
            Step::Done(result) => match *result {
                Ok(answer) => chunks.end(&answer, include_usage),
                Err(err) => {
                    let error = ErrorBody { error: err.detail() };
                    vec![chunks.event(&error), Event::default().data("[DONE]")]
                }
            },
        };
        futures_util::stream::iter(events.into_iter().map(Ok::<_, Infallible>))
    });
    let events = futures_util::stream::iter(opening.into_iter().map(Ok::<_, Infallible>)).chain(events);
    Ok(Sse::new(events).into_response())
}
