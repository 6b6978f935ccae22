//! `veritas chat`: a terminal chat with a node's language model, streamed token by token, every
//! answer with its receipt. One-shot with `-m`.

use std::io::BufRead;

use anyhow::{Context, bail};
use clap::Args;
use futures_util::StreamExt;
use serde_json::json;
use veritas_node::{
    llm::ChatMessage,
    wire::{
        ErrorBody,
        openai::{ChatChunk, ChatCompletionRequest, CompletionOptions, VeritasReceipt},
    },
};

use crate::{client::ClientError, commands::Output, env, setup::DEFAULT_LLM};

/// One server-sent event of a streamed answer: a chunk, or the error that ended it.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum StreamEvent {
    Chunk(Box<ChatChunk>),
    Error(ErrorBody),
}

/// Options of `veritas chat`.
#[derive(Args)]
pub struct ChatArgs {
    /// Send this one message, print the answer and exit.
    #[arg(short, long)]
    message: Option<String>,
    /// The model.
    #[arg(long, default_value = DEFAULT_LLM)]
    model: String,
    /// A system message that opens the conversation.
    #[arg(long)]
    system: Option<String>,
    /// Sampling temperature (0 = always the most likely token).
    #[arg(long, default_value_t = 0.7)]
    temperature: f32,
    /// The most tokens per answer.
    #[arg(long, default_value_t = 512)]
    max_tokens: u32,
    /// A seed, for answers that can be reproduced.
    #[arg(long)]
    seed: Option<u32>,
    /// Pay with this API key.
    #[arg(long, env = "VERITAS_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Write each answer's receipt to this file.
    #[arg(long)]
    receipt: Option<std::path::PathBuf>,
    /// The verification mode: signed, reexec or tee (default: the node's). A tee answer's
    /// attestation is checked here, bound to a fresh nonce per message.
    #[arg(long)]
    mode: Option<veritas_primitives::Mode>,
    /// Seal each message to an enclave's attested key (a `tee` request): nobody outside the
    /// enclave sees the conversation or the answers; the receipts hold only commitments.
    #[arg(long)]
    confidential: bool,
    /// The TEE policy the enclave must hold under before anything is sealed to it (default: the
    /// one the network publishes).
    #[arg(long, value_name = "FILE", requires = "confidential")]
    tee_policy: Option<std::path::PathBuf>,
}

/// A confidential session's enclave and the model id its messages are sealed for.
struct Sealing {
    enclave: crate::confidential::Enclave,
    model_id: veritas_primitives::ModelId,
}

struct Session {
    http: reqwest::Client,
    api: String,
    args: ChatArgs,
    messages: Vec<ChatMessage>,
    last_receipt: Option<VeritasReceipt>,
    /// With `--confidential`: the enclave, checked once per session (and again per model).
    sealing: Option<Sealing>,
}

fn message(role: &str, content: &str) -> ChatMessage {
    ChatMessage::new(role, content)
}

impl Session {
    fn reset(&mut self) {
        self.messages.clear();
        if let Some(system) = &self.args.system {
            self.messages.push(message("system", system));
        }
    }

    /// Sends the conversation, streams the answer to stdout; Ctrl-C stops it. Returns the text.
    async fn ask(&mut self, text: &str) -> anyhow::Result<String> {
        self.messages.push(message("user", text));
        let nonce = veritas_primitives::B256::random();
        let mut sealed = match self.args.confidential {
            true => Some(self.seal().await?),
            false => None,
        };
        let body = ChatCompletionRequest {
            messages: if sealed.is_some() { Vec::new() } else { self.messages.clone() },
            logprobs: false,
            top_logprobs: None,
            tools: Vec::new(),
            tool_choice: None,
            parallel_tool_calls: None,
            response_format: None,
            options: CompletionOptions {
                model: self.args.model.clone(),
                temperature: Some(self.args.temperature),
                max_tokens: Some(self.args.max_tokens),
                stream: true,
                seed: self.args.seed.map(i64::from),
                veritas_mode: if sealed.is_some() { Some(veritas_primitives::Mode::Tee) } else { self.args.mode },
                veritas_nonce: (sealed.is_none() && self.args.mode.is_some())
                    .then(|| veritas_primitives::hex::encode(nonce)),
                veritas_sealed: sealed.as_ref().map(|(request, _)| request.clone()),
                ..Default::default()
            },
        };
        let mut request = self.http.post(format!("{}/v1/chat/completions", self.api)).json(&body);
        if let Some(key) = self.args.api_key.as_deref().filter(|k| !k.is_empty()) {
            request = request.bearer_auth(key);
        }
        let response = request
            .send()
            .await
            .map_err(|err| ClientError::Unreachable { url: self.api.clone(), reason: err.to_string() })?;
        let status = response.status();
        if !status.is_success() {
            self.messages.pop();
            let text = response.text().await.unwrap_or_default();
            let (code, message) = match serde_json::from_str::<ErrorBody>(&text) {
                Ok(body) => (body.error.code, body.error.message),
                Err(_) => ("unknown".to_owned(), text.chars().take(300).collect()),
            };
            return Err(ClientError::Refused { status: status.as_u16(), code, message }.into());
        }
        let mut stream = response.bytes_stream();
        let mut buffer = String::new();
        let mut answer = String::new();
        let interrupted = loop {
            let chunk = tokio::select! {
                chunk = stream.next() => chunk,
                _ = tokio::signal::ctrl_c() => break true,
            };
            let Some(chunk) = chunk else { break false };
            buffer.push_str(&String::from_utf8_lossy(&chunk.context("the answer stream broke off")?));
            while let Some(end) = buffer.find("\n\n") {
                let event: String = buffer.drain(..end + 2).collect();
                let Some(data) = event.trim().strip_prefix("data: ") else { continue };
                if data == "[DONE]" {
                    continue;
                }
                let chunk = match serde_json::from_str(data).context("the node sent an event that is not a chunk")? {
                    StreamEvent::Chunk(chunk) => chunk,
                    StreamEvent::Error(error) => bail!("{}", error.error.message),
                };
                if let Some(piece) = chunk.choices.first().and_then(|c| c.delta.content.as_deref()) {
                    let piece = match &mut sealed {
                        Some((_, reader)) if !piece.is_empty() => crate::confidential::open_piece(reader, piece)?,
                        _ => piece.to_owned(),
                    };
                    answer.push_str(&piece);
                    crate::output(format_args!("{piece}"));
                }
                if let Some(veritas) = chunk.veritas {
                    self.last_receipt = Some(veritas);
                }
            }
        };
        say!("");
        if interrupted {
            // Dropping the stream tells the node to stop; the partial answer stays in the chat.
            eprintln!("(stopped)");
        } else if let (Some(veritas), Some((request, reader)), Some(sealing)) =
            (&self.last_receipt, &sealed, &self.sealing)
        {
            eprintln!("receipt {} (confidential: it holds commitments, not the conversation)", veritas.receipt_id);
            let last = veritas.sealed.as_ref().ok_or_else(|| ClientError::Invalid {
                reason: "the node answered a confidential request without a sealed answer".into(),
            })?;
            let opening = crate::confidential::check_answer(
                &sealing.enclave,
                &veritas.receipt,
                request,
                reader,
                last,
                true,
                &sealing.model_id,
            )?;
            let signed = veritas_node::protocol::admission::string_value(Some(&opening.output), "text");
            let sent = veritas_node::protocol::admission::string_value(Some(&opening.input), "messages");
            if signed.as_deref() != Some(answer.as_str()) || sent != serde_json::to_string(&self.messages).ok() {
                return Err(ClientError::Invalid {
                    reason: "the enclave's opening is not the conversation sent and the text shown".into(),
                }
                .into());
            }
            if sealing.enclave.report.insecure {
                eprintln!("!! UNTRUSTED / SIMULATED enclave: this confidential answer proves nothing and hid nothing");
            }
            if let Some(path) = &self.args.receipt {
                std::fs::write(path, serde_json::to_string_pretty(&veritas.receipt)? + "\n")
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
        } else if let Some(veritas) = &self.last_receipt {
            eprintln!("receipt {}", veritas.receipt_id);
            let client = crate::client::Client::new(&self.api);
            let receipt = &veritas.receipt;
            crate::receipts::check_answer(&client, receipt, self.args.mode, nonce.as_slice(), None).await?;
            let signed = veritas_node::protocol::admission::string_value(receipt.body.output.as_ref(), "text");
            if signed.as_deref() != Some(answer.as_str()) {
                return Err(ClientError::Invalid {
                    reason: format!(
                        "the text shown is not the text the receipt signs, which is:\n{}",
                        signed.unwrap_or_default()
                    ),
                }
                .into());
            }
            if let Some(path) = &self.args.receipt {
                std::fs::write(path, serde_json::to_string_pretty(&veritas.receipt)? + "\n")
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
        }
        self.messages.push(message("assistant", &answer));
        Ok(answer)
    }
}

impl Session {
    /// The conversation sealed to the session's enclave (its key offer checked the first time,
    /// and again after `/model`).
    async fn seal(
        &mut self,
    ) -> anyhow::Result<(veritas_node::wire::SealedRequest, veritas_verifier::confidential::AnswerReader)> {
        let client =
            crate::client::Client::new(&self.api).with_api_key(self.args.api_key.clone().filter(|k| !k.is_empty()));
        if self.sealing.is_none() {
            let model: veritas_node::wire::ModelEntry = client.get(&format!("/v1/models/{}", self.args.model)).await?;
            let policy = crate::confidential::client_policy(&client, self.args.tee_policy.as_deref()).await?;
            let enclave = crate::confidential::attested_enclave(&client, policy).await?;
            self.sealing = Some(Sealing { enclave, model_id: model.veritas.model_id });
        }
        let Some(sealing) = &self.sealing else { unreachable!("set above") };
        let input = serde_json::json!({ "messages": self.messages });
        sealing.enclave.seal(&sealing.model_id, input)
    }
}

/// `veritas chat`.
pub async fn chat(args: ChatArgs, out: &Output) -> anyhow::Result<u8> {
    if args.confidential && args.mode.is_some_and(|mode| mode != veritas_primitives::Mode::Tee) {
        bail!("--confidential is a tee request: leave --mode out, or say tee");
    }
    let mut session = Session {
        http: reqwest::Client::new(),
        api: env::api(),
        args,
        messages: Vec::new(),
        last_receipt: None,
        sealing: None,
    };
    session.reset();
    if let Some(message) = session.args.message.clone() {
        let answer = session.ask(&message).await?;
        if out.json {
            out.print_json(&json!({"answer": answer, "veritas": session.last_receipt}));
        }
        return Ok(0);
    }
    eprintln!(
        "chatting with {} at {} — /model NAME, /reset, /receipt, /exit; end a line with \\ to continue it; Ctrl-C stops an answer",
        session.args.model, session.api
    );
    let stdin = std::io::stdin();
    loop {
        eprint!("> ");
        let mut text = String::new();
        loop {
            let mut line = String::new();
            if stdin.lock().read_line(&mut line)? == 0 {
                return Ok(0);
            }
            let line = line.trim_end_matches(['\n', '\r']);
            match line.strip_suffix('\\') {
                Some(start) => {
                    text.push_str(start);
                    text.push('\n');
                    eprint!("… ");
                }
                None => {
                    text.push_str(line);
                    break;
                }
            }
        }
        let text = text.trim();
        match text.split_once(' ').map_or((text, ""), |(c, rest)| (c, rest.trim())) {
            ("", _) => continue,
            ("/exit" | "/quit", _) => return Ok(0),
            ("/reset", _) => {
                session.reset();
                eprintln!("(new conversation)");
            }
            ("/model", "") => eprintln!("model: {}", session.args.model),
            ("/model", name) => {
                session.args.model = name.to_owned();
                session.sealing = None;
                session.reset();
                eprintln!("(now {name}; new conversation)");
            }
            ("/receipt", _) => match &session.last_receipt {
                Some(veritas) => say!("{}", serde_json::to_string_pretty(&veritas.receipt)?),
                None => eprintln!("(no answer yet)"),
            },
            (command, _) if command.starts_with('/') => eprintln!("unknown command {command}"),
            _ => {
                if let Err(err) = session.ask(text).await {
                    eprintln!("error: {err:#}");
                }
            }
        }
    }
}
