//! Tool calls in text: how a conversation's calls and tool answers are written for a template
//! that knows nothing of tools, and how the calls are read back out of generated text, whole
//! or as it streams. Calls are Hermes-style blocks, the format of most open tool-calling models
//! (Qwen 2.5, Hermes, SmolLM3 …):
//!
//! ```text
//! <tool_call>
//! {"arguments": {...}, "name": "get_weather"}
//! </tool_call>
//! ```
//!
//! The node, `veritas proxy` and both SDKs read a signed text the same way.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{ChatMessage, Constraint};

/// The opening of a tool call in the generated text.
pub const TOOL_CALL_OPEN: &str = "<tool_call>";
/// Its end.
pub const TOOL_CALL_CLOSE: &str = "</tool_call>";

/// A call the model made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    /// Its id, which the tool's answer names.
    pub id: String,
    /// `function`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The function and its arguments.
    pub function: FunctionCall,
}

/// A function called, with its arguments as JSON text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionCall {
    /// The function's name.
    pub name: String,
    /// The arguments, JSON.
    pub arguments: String,
}

/// Messages as a template that knows nothing of tools can render them: an assistant's calls
/// and a tool's answer become text blocks in Hermes' format, and the tools are described in the
/// system message (the first one, or a new one).
pub fn messages_for_template(messages: &[ChatMessage], constraint: &Constraint) -> Vec<ChatMessage> {
    let mut out: Vec<ChatMessage> = messages
        .iter()
        .map(|message| {
            let mut message = message.clone();
            if !message.tool_calls.is_empty() {
                let calls: Vec<String> = message
                    .tool_calls
                    .iter()
                    .map(|call| {
                        let arguments: Value = serde_json::from_str(&call.function.arguments)
                            .unwrap_or(Value::String(call.function.arguments.clone()));
                        format!(
                            "{TOOL_CALL_OPEN}\n{}\n{TOOL_CALL_CLOSE}",
                            json!({"name": call.function.name, "arguments": arguments})
                        )
                    })
                    .collect();
                let mut content = message.content.clone();
                if !content.is_empty() {
                    content.push('\n');
                }
                content.push_str(&calls.join("\n"));
                message.content = content;
                message.tool_calls.clear();
            }
            if message.role == "tool" {
                message.role = "user".into();
                message.content = format!("<tool_response>\n{}\n</tool_response>", message.content);
                message.tool_call_id = None;
                message.name = None;
            }
            message
        })
        .collect();
    if let Some(tools) = constraint.tools_prompt() {
        match out.first_mut() {
            Some(first) if first.role == "system" => first.content = format!("{}\n\n{tools}", first.content),
            _ => out.insert(0, ChatMessage::new("system", &tools)),
        }
    }
    out
}

/// Something read out of generated text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    /// Text for the user.
    Content(String),
    /// A whole tool call, the `index`-th of the answer.
    Call {
        /// Its place among the answer's calls.
        index: usize,
        /// Its name.
        name: String,
        /// Its arguments, JSON.
        arguments: String,
    },
}

/// Reads tool calls out of streamed text: content passes as it comes (holding back what may be
/// the start of `<tool_call>`); each call comes out whole when its block closes.
#[derive(Debug, Default)]
pub struct ToolStream {
    pending: String,
    in_call: bool,
    calls: usize,
}

impl ToolStream {
    /// A reader.
    pub fn new() -> ToolStream {
        ToolStream::default()
    }

    /// Adds text; returns what is now known.
    pub fn push(&mut self, text: &str) -> Vec<Piece> {
        self.pending.push_str(text);
        let mut out = Vec::new();
        loop {
            if self.in_call {
                let Some(end) = self.pending.find(TOOL_CALL_CLOSE) else { break };
                let body = self.pending[..end].trim().to_owned();
                self.pending.drain(..end + TOOL_CALL_CLOSE.len());
                self.in_call = false;
                out.push(self.call(&body));
            } else if let Some(start) = self.pending.find(TOOL_CALL_OPEN) {
                let before = self.pending[..start].to_owned();
                if !before.trim().is_empty() {
                    out.push(Piece::Content(before));
                }
                self.pending.drain(..start + TOOL_CALL_OPEN.len());
                self.in_call = true;
            } else {
                // Keep back a suffix that may begin the opening tag.
                let keep = (1..TOOL_CALL_OPEN.len())
                    .rev()
                    .find(|&n| self.pending.ends_with(&TOOL_CALL_OPEN[..n]))
                    .unwrap_or(0);
                let cut = self.pending.len() - keep;
                if cut > 0 && self.calls == 0 {
                    out.push(Piece::Content(self.pending[..cut].to_owned()));
                }
                if cut > 0 {
                    self.pending.drain(..cut);
                }
                break;
            }
        }
        out
    }

    /// The end of the text: what was held back, as content (an unclosed call is content too).
    pub fn finish(&mut self) -> Vec<Piece> {
        let rest = std::mem::take(&mut self.pending);
        let rest = if self.in_call { format!("{TOOL_CALL_OPEN}{rest}") } else { rest };
        self.in_call = false;
        if rest.trim().is_empty() || self.calls > 0 { Vec::new() } else { vec![Piece::Content(rest)] }
    }

    fn call(&mut self, body: &str) -> Piece {
        let parsed: Option<(String, String)> = serde_json::from_str::<Value>(body).ok().and_then(|value| {
            let name = value.get("name")?.as_str()?.to_owned();
            let arguments = value.get("arguments")?;
            let arguments = match arguments {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            Some((name, arguments))
        });
        match parsed {
            Some((name, arguments)) => {
                self.calls += 1;
                Piece::Call { index: self.calls - 1, name, arguments }
            }
            None => Piece::Content(format!("{TOOL_CALL_OPEN}\n{body}\n{TOOL_CALL_CLOSE}")),
        }
    }
}

/// Every piece of a whole text: its content (joined) and its calls.
pub fn read_tool_calls(text: &str) -> (String, Vec<(String, String)>) {
    let mut stream = ToolStream::new();
    let mut pieces = stream.push(text);
    pieces.extend(stream.finish());
    let (mut content, mut calls) = (String::new(), Vec::new());
    for piece in pieces {
        match piece {
            Piece::Content(text) => content.push_str(&text),
            Piece::Call { name, arguments, .. } => calls.push((name, arguments)),
        }
    }
    (content.trim_end().to_owned(), calls)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_read_out_of_streamed_text_split_anywhere() {
        let text = "Let me look.\n<tool_call>\n{\"name\": \"weather\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call>\n<tool_call>\n{\"arguments\": {\"city\": \"Rome\"}, \"name\": \"weather\"}\n</tool_call>";
        for split in 1..text.len() {
            if !text.is_char_boundary(split) {
                continue;
            }
            let mut stream = ToolStream::new();
            let mut pieces = stream.push(&text[..split]);
            pieces.extend(stream.push(&text[split..]));
            pieces.extend(stream.finish());
            let content: String =
                pieces.iter().filter_map(|p| if let Piece::Content(c) = p { Some(c.as_str()) } else { None }).collect();
            assert_eq!(content.trim(), "Let me look.", "split at {split}");
            let calls: Vec<_> = pieces.iter().filter(|p| matches!(p, Piece::Call { .. })).collect();
            assert_eq!(calls.len(), 2, "split at {split}");
            assert_eq!(
                calls[1],
                &Piece::Call { index: 1, name: "weather".into(), arguments: "{\"city\":\"Rome\"}".into() }
            );
        }
        // Text that only looks like the start of a tag is content in the end.
        assert_eq!(read_tool_calls("a <tool"), ("a <tool".into(), vec![]));
        // A block that is not a call stays text.
        assert_eq!(read_tool_calls("<tool_call>oops</tool_call>").1, vec![]);
    }
}
