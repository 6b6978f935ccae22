//! `veritas chat`: a terminal chat with a node's language model, streamed token by token, every
//! answer with its receipt. One-shot with `-m`.

use std::io::{BufRead, Write};

use anyhow::{Context, bail};
use clap::Args;
use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::{client::ClientError, commands::Output, env, setup::DEFAULT_LLM};

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
}

struct Session {
    http: reqwest::Client,
    api: String,
    args: ChatArgs,
    messages: Vec<Value>,
    last_receipt: Option<Value>,
}

impl Session {
    fn reset(&mut self) {
        self.messages.clear();
        if let Some(system) = &self.args.system {
            self.messages.push(json!({"role": "system", "content": system}));
        }
    }

    /// Sends the conversation, streams the answer to stdout; Ctrl-C stops it. Returns the text.
    async fn ask(&mut self, text: &str) -> anyhow::Result<String> {
        self.messages.push(json!({"role": "user", "content": text}));
        let mut body = json!({
            "model": self.args.model,
            "messages": self.messages,
            "temperature": self.args.temperature,
            "max_tokens": self.args.max_tokens,
            "stream": true,
        });
        if let Some(seed) = self.args.seed {
            body["seed"] = json!(seed);
        }
        let nonce = veritas_primitives::B256::random();
        if let Some(mode) = self.args.mode {
            body["veritas_mode"] = json!(mode);
            body["veritas_nonce"] = json!(veritas_primitives::hex::encode(nonce));
        }
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
            let body: Value = response.json().await.unwrap_or(Value::Null);
            return Err(ClientError::Refused {
                status: status.as_u16(),
                code: body["error"]["code"].as_str().unwrap_or("unknown").to_owned(),
                message: body["error"]["message"].as_str().unwrap_or("(no message)").to_owned(),
            }
            .into());
        }
        let mut stream = response.bytes_stream();
        let mut buffer = String::new();
        let mut answer = String::new();
        let mut stdout = std::io::stdout();
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
                let data: Value = serde_json::from_str(data).context("the node sent an event that is not JSON")?;
                if let Some(error) = data.get("error") {
                    bail!("{}", error["message"].as_str().unwrap_or("the generation failed"));
                }
                if let Some(piece) = data["choices"][0]["delta"]["content"].as_str() {
                    answer.push_str(piece);
                    print!("{piece}");
                    stdout.flush()?;
                }
                if data["veritas"].is_object() {
                    self.last_receipt = Some(data["veritas"].clone());
                }
            }
        };
        println!();
        if interrupted {
            // Dropping the stream tells the node to stop; the partial answer stays in the chat.
            eprintln!("(stopped)");
        } else if let Some(veritas) = &self.last_receipt {
            eprintln!("receipt {}", veritas["receipt_id"].as_str().unwrap_or("?"));
            if self.args.mode == Some(veritas_primitives::Mode::Tee) {
                let client = crate::client::Client::new(&self.api);
                crate::receipts::check_tee_answer(&client, &veritas["receipt"], nonce.as_slice()).await?;
            }
            if let Some(path) = &self.args.receipt {
                std::fs::write(path, serde_json::to_string_pretty(&veritas["receipt"])? + "\n")
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
        }
        self.messages.push(json!({"role": "assistant", "content": answer}));
        Ok(answer)
    }
}

/// `veritas chat`.
pub async fn chat(args: ChatArgs, out: &Output) -> anyhow::Result<u8> {
    let mut session =
        Session { http: reqwest::Client::new(), api: env::api(), args, messages: Vec::new(), last_receipt: None };
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
                session.reset();
                eprintln!("(now {name}; new conversation)");
            }
            ("/receipt", _) => match &session.last_receipt {
                Some(veritas) => println!("{}", serde_json::to_string_pretty(&veritas["receipt"])?),
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
