//! Tools and structured output: what a request asks of the answer's shape (OpenAI's `tools`,
//! `tool_choice`, `parallel_tool_calls` and `response_format`), the grammar that enforces it,
//! and the tool calls read back out of the generated text.
//!
//! Tool calls are written as Hermes-style blocks, the format of most open tool-calling models
//! (Qwen 2.5, Hermes, SmolLM3 …):
//!
//! ```text
//! <tool_call>
//! {"arguments": {...}, "name": "get_weather"}
//! </tool_call>
//! ```
//!
//! A template that renders `tools` itself gets them; for one that does not, the tools are
//! described in a system message in that same format, and earlier calls and their results are
//! written into the conversation as such blocks. The grammar comes from the JSON Schemas of
//! the tools' parameters (and of `response_format`) through llama.cpp's own converter, so that
//! every call parses and matches its function's schema; with `tool_choice: auto` it is lazy,
//! binding from the first `<tool_call>` on.
//!
//! The constraint is recorded in the receipt's parameters; the validators derive the same
//! grammar from it and refuse a token outside it (docs/llm.md, "Tools and structured output").

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{ChatMessage, LlmError, LlmResult};

/// The opening of a tool call in the generated text.
pub const TOOL_CALL_OPEN: &str = "<tool_call>";
/// Its end.
pub const TOOL_CALL_CLOSE: &str = "</tool_call>";

/// The most tools a request may list, and the largest constraint (as JSON) it may carry.
pub const MAX_TOOLS: usize = 64;
/// The largest constraint, as JSON bytes.
pub const MAX_CONSTRAINT_BYTES: usize = 64 * 1024;

/// What shapes an answer beyond sampling, as the client asked it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Constraint {
    /// The functions the model may call.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<Tool>,
    /// Whether and which to call.
    #[serde(default, skip_serializing_if = "ToolChoice::is_auto")]
    pub tool_choice: ToolChoice,
    /// Whether several calls may come in one answer.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub parallel_tool_calls: bool,
    /// The answer's format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormat>,
}

fn yes() -> bool {
    true
}

fn is_true(value: &bool) -> bool {
    *value
}

/// A tool: a function with a JSON Schema for its arguments.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    /// `function`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The function.
    pub function: Function,
}

/// A function the model may call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Function {
    /// Its name (letters, digits, `_` and `-`, at most 64).
    pub name: String,
    /// What it does, for the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The JSON Schema of its arguments (an object); any object if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    /// Accepted: arguments always match the schema here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

/// `tool_choice`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ToolChoice {
    /// `none`, `auto` or `required`.
    Mode(ToolMode),
    /// One function by name: `{"type": "function", "function": {"name": …}}`.
    Named {
        /// `function`.
        #[serde(rename = "type")]
        kind: String,
        /// The function.
        function: NamedFunction,
    },
    /// `auto` (the default when tools are given).
    #[default]
    #[serde(skip)]
    Auto,
}

impl ToolChoice {
    fn is_auto(&self) -> bool {
        matches!(self, ToolChoice::Auto | ToolChoice::Mode(ToolMode::Auto))
    }
}

/// A tool choice by word.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolMode {
    /// Answer in text; no call.
    None,
    /// The model decides.
    Auto,
    /// At least one call.
    Required,
}

/// A function named in `tool_choice`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedFunction {
    /// Its name.
    pub name: String,
}

/// `response_format`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResponseFormat {
    /// Free text (the default).
    Text,
    /// Any JSON object.
    JsonObject,
    /// JSON that matches a schema.
    JsonSchema {
        /// The schema and its name.
        json_schema: JsonSchema,
    },
}

/// A named JSON Schema.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JsonSchema {
    /// Its name.
    pub name: String,
    /// What it is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The schema; any JSON value if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
    /// Accepted: answers always match the schema here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

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

impl Constraint {
    /// Whether it constrains anything.
    pub fn is_empty(&self) -> bool {
        self.tools_in_play().is_empty() && !self.structured()
    }

    /// Whether `response_format` asks for JSON.
    fn structured(&self) -> bool {
        matches!(self.response_format, Some(ResponseFormat::JsonObject | ResponseFormat::JsonSchema { .. }))
    }

    /// The tools the model is offered: none with `tool_choice: none`, only the named one when
    /// one is named.
    pub fn tools_in_play(&self) -> Vec<&Tool> {
        match &self.tool_choice {
            ToolChoice::Mode(ToolMode::None) => Vec::new(),
            ToolChoice::Named { function, .. } => {
                self.tools.iter().filter(|tool| tool.function.name == function.name).collect()
            }
            _ => self.tools.iter().collect(),
        }
    }

    /// Checks what a client sent, naming the first thing wrong.
    pub fn validate(&self) -> LlmResult<()> {
        let bad = |message: String| Err(LlmError::InvalidGrammar(message));
        let size = serde_json::to_vec(self).map_or(usize::MAX, |bytes| bytes.len());
        if size > MAX_CONSTRAINT_BYTES {
            return bad(format!("tools and response_format take {size} bytes; at most {MAX_CONSTRAINT_BYTES}"));
        }
        if self.tools.len() > MAX_TOOLS {
            return bad(format!("at most {MAX_TOOLS} tools, got {}", self.tools.len()));
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, tool) in self.tools.iter().enumerate() {
            if tool.kind != "function" {
                return bad(format!("tools[{i}].type is {:?}; only \"function\" is supported", tool.kind));
            }
            let name = &tool.function.name;
            let valid = !name.is_empty()
                && name.len() <= 64
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !valid {
                return bad(format!("tools[{i}].function.name {name:?} must be 1 to 64 letters, digits, `_` or `-`"));
            }
            if !names.insert(name) {
                return bad(format!("two tools are named {name:?}"));
            }
            if let Some(parameters) = &tool.function.parameters {
                if !parameters.is_object() {
                    return bad(format!("tools[{i}].function.parameters must be a JSON Schema object"));
                }
                enforceable(parameters, &format!("tools[{i}].function.parameters"))?;
            }
        }
        match &self.tool_choice {
            ToolChoice::Named { kind, function } => {
                if kind != "function" {
                    return bad(format!("tool_choice.type is {kind:?}; only \"function\" is supported"));
                }
                if !names.contains(&function.name) {
                    return bad(format!("tool_choice names {:?}, which is not among the tools", function.name));
                }
            }
            ToolChoice::Mode(ToolMode::Required) if self.tools.is_empty() => {
                return bad("tool_choice is \"required\" but no tools are given".into());
            }
            _ => {}
        }
        if !self.tools_in_play().is_empty() && self.structured() {
            return bad("tools and a JSON response_format cannot be combined".into());
        }
        if let Some(ResponseFormat::JsonSchema { json_schema }) = &self.response_format
            && let Some(schema) = &json_schema.schema
        {
            if !(schema.is_object() || schema.is_boolean()) {
                return bad("response_format.json_schema.schema must be a JSON Schema (an object)".into());
            }
            enforceable(schema, "response_format.json_schema.schema")?;
        }
        Ok(())
    }

    /// The JSON Schema one tool call must match: `{"name": <one of the tools>, "arguments": …}`.
    fn call_schema(&self) -> Value {
        let calls: Vec<Value> = self
            .tools_in_play()
            .into_iter()
            .map(|tool| {
                let parameters = tool.function.parameters.clone().unwrap_or_else(|| json!({"type": "object"}));
                json!({
                    "type": "object",
                    "properties": {"name": {"const": tool.function.name}, "arguments": parameters},
                    "required": ["name", "arguments"],
                    "additionalProperties": false,
                })
            })
            .collect();
        match <[Value; 1]>::try_from(calls) {
            Ok([one]) => one,
            Err(calls) => json!({ "anyOf": calls }),
        }
    }

    /// The grammar that enforces it, from llama.cpp's JSON Schema converter, or none when it
    /// constrains nothing. The same constraint gives the same grammar, byte for byte.
    pub fn grammar(&self) -> LlmResult<Option<crate::Grammar>> {
        self.validate()?;
        if self.structured() {
            let schema = match &self.response_format {
                Some(ResponseFormat::JsonSchema { json_schema }) => {
                    json_schema.schema.clone().unwrap_or_else(|| json!({}))
                }
                _ => json!({"type": "object"}),
            };
            return Ok(Some(crate::Grammar { gbnf: schema_grammar(&schema)?, trigger: None }));
        }
        if self.tools_in_play().is_empty() {
            return Ok(None);
        }
        // The converted call schema's root becomes `call`, wrapped in the block's tags.
        let call = schema_grammar(&self.call_schema())?;
        let call = rename_root(&call, "call")?;
        let repeat = if self.parallel_tool_calls { " (\"\\n\" tool-call)*" } else { "" };
        let gbnf = format!(
            "root ::= tool-call{repeat}\ntool-call ::= \"{TOOL_CALL_OPEN}\\n\" call \"\\n{TOOL_CALL_CLOSE}\"\n{call}"
        );
        let trigger = match self.tool_choice {
            ToolChoice::Mode(ToolMode::Required) | ToolChoice::Named { .. } => None,
            _ => Some(TOOL_CALL_OPEN.to_owned()),
        };
        Ok(Some(crate::Grammar { gbnf, trigger }))
    }

    /// The system text that describes the tools to a model whose template does not render
    /// them (Hermes' wording).
    pub fn tools_prompt(&self) -> Option<String> {
        let tools = self.tools_in_play();
        if tools.is_empty() {
            return None;
        }
        let listed: Vec<String> = tools.iter().map(|tool| serde_json::to_string(tool).unwrap_or_default()).collect();
        Some(format!(
            "You may call one or more functions to assist with the user query.\n\nYou are provided with function \
             signatures within <tools></tools> XML tags:\n<tools>\n{}\n</tools>\n\nFor each function call, return a \
             json object with function name and arguments within {TOOL_CALL_OPEN}{TOOL_CALL_CLOSE} XML tags:\n\
             {TOOL_CALL_OPEN}\n{{\"name\": <function-name>, \"arguments\": <args-json-object>}}\n{TOOL_CALL_CLOSE}",
            listed.join("\n")
        ))
    }
}

/// The JSON Schema keywords whose every constraint the grammar enforces (llama.cpp's converter),
/// and those that only describe.
const ENFORCED: [&str; 26] = [
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "prefixItems",
    "minItems",
    "maxItems",
    "enum",
    "const",
    "anyOf",
    "oneOf",
    "allOf",
    "$ref",
    "$defs",
    "definitions",
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "description",
    "title",
    "default",
    "examples",
    "$schema",
    "$comment",
];

/// The string formats the grammar enforces.
const FORMATS: [&str; 4] = ["date", "time", "date-time", "uuid"];

/// Whether every keyword of `schema` is one the grammar enforces (or only describes), so that
/// an answer that follows the grammar matches the schema; names the first that is not.
fn enforceable(schema: &Value, path: &str) -> LlmResult<()> {
    let bad = |at: &str, message: String| Err(LlmError::InvalidGrammar(format!("{path}{at}: {message}")));
    fn walk(schema: &Value, at: String, depth: usize, bad: &dyn Fn(&str, String) -> LlmResult<()>) -> LlmResult<()> {
        if depth > 32 {
            return bad(&at, "nested more than 32 levels".into());
        }
        let Some(object) = schema.as_object() else {
            return if schema.is_boolean() { Ok(()) } else { bad(&at, "a schema must be an object".into()) };
        };
        let integer = object.get("type").and_then(Value::as_str) == Some("integer");
        for (key, value) in object {
            match key.as_str() {
                "minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum" if integer => {}
                "minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum" => {
                    return bad(&at, format!("`{key}` is enforced only on integers"));
                }
                "format" if !value.as_str().is_some_and(|format| FORMATS.contains(&format)) => {
                    return bad(&at, format!("format {value} is not enforced (only date, time, date-time, uuid)"));
                }
                key if !ENFORCED.contains(&key) => {
                    return bad(&at, format!("`{key}` is not enforced by the grammar; leave it out"));
                }
                "properties" | "$defs" | "definitions" => {
                    for (name, child) in value.as_object().into_iter().flatten() {
                        walk(child, format!("{at}/{key}/{name}"), depth + 1, bad)?;
                    }
                }
                "items" | "additionalProperties" => walk(value, format!("{at}/{key}"), depth + 1, bad)?,
                "prefixItems" | "anyOf" | "oneOf" | "allOf" => {
                    for (i, child) in value.as_array().into_iter().flatten().enumerate() {
                        walk(child, format!("{at}/{key}/{i}"), depth + 1, bad)?;
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
    walk(schema, String::new(), 0, &bad)
}

/// llama.cpp's grammar for a JSON Schema (none in a build without llama.cpp).
#[cfg(not(feature = "engine"))]
fn schema_grammar(_schema: &Value) -> LlmResult<String> {
    Err(LlmError::InvalidGrammar("this build has no llama.cpp to make grammars with".into()))
}

/// llama.cpp's grammar for a JSON Schema.
#[cfg(feature = "engine")]
fn schema_grammar(schema: &Value) -> LlmResult<String> {
    let text = serde_json::to_string(schema).map_err(|err| LlmError::InvalidGrammar(err.to_string()))?;
    llama_cpp_2::json_schema_to_grammar(&text).map_err(|_| {
        LlmError::InvalidGrammar(
            "llama.cpp cannot turn this JSON Schema into a grammar (an unsupported keyword, a bad $ref or an \
             unsatisfiable pattern)"
                .into(),
        )
    })
}

/// A converted grammar with its `root` rule renamed (no other rule refers to `root`).
fn rename_root(gbnf: &str, name: &str) -> LlmResult<String> {
    let mut renamed = 0;
    let lines: Vec<String> = gbnf
        .lines()
        .map(|line| match line.strip_prefix("root ::=") {
            Some(rest) => {
                renamed += 1;
                format!("{name} ::={rest}")
            }
            None => line.to_owned(),
        })
        .collect();
    if renamed != 1 {
        return Err(LlmError::InvalidGrammar("the converted grammar has no single root rule".into()));
    }
    Ok(lines.join("\n"))
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

    fn tool(name: &str) -> Tool {
        Tool {
            kind: "function".into(),
            function: Function {
                name: name.into(),
                description: None,
                parameters: Some(json!({"type": "object", "properties": {"city": {"type": "string"}}})),
                strict: None,
            },
        }
    }

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

    fn schema(schema: Value) -> Constraint {
        Constraint {
            response_format: Some(ResponseFormat::JsonSchema {
                json_schema: JsonSchema { name: "x".into(), description: None, schema: Some(schema), strict: None },
            }),
            ..Default::default()
        }
    }

    #[test]
    fn bad_constraints_are_named() {
        let cases = [
            (Constraint { tools: vec![tool("a b")], ..Default::default() }, "name"),
            (Constraint { tools: vec![tool("a"), tool("a")], ..Default::default() }, "two tools"),
            (Constraint { tool_choice: ToolChoice::Mode(ToolMode::Required), ..Default::default() }, "required"),
            (
                Constraint {
                    tools: vec![tool("a")],
                    tool_choice: ToolChoice::Named {
                        kind: "function".into(),
                        function: NamedFunction { name: "b".into() },
                    },
                    ..Default::default()
                },
                "not among",
            ),
            (
                Constraint {
                    tools: vec![tool("a")],
                    response_format: Some(ResponseFormat::JsonObject),
                    ..Default::default()
                },
                "combined",
            ),
            (schema(json!({"type": "number", "multipleOf": 2})), "`multipleOf` is not enforced"),
            (schema(json!({"type": "object", "properties": {"x": {"type": "number", "minimum": 0}}})), "/properties/x"),
            (schema(json!({"type": "string", "format": "email"})), "format \"email\""),
            (schema(json!({"type": "array", "items": {"type": "string"}, "uniqueItems": true})), "`uniqueItems`"),
        ];
        for (constraint, named) in cases {
            let err = constraint.validate().unwrap_err().to_string();
            assert!(err.contains(named), "{err}");
        }
    }

    #[test]
    fn openai_shapes_parse() {
        let constraint: Constraint = serde_json::from_value(json!({
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
            "tool_choice": {"type": "function", "function": {"name": "f"}},
            "response_format": {"type": "text"},
        }))
        .unwrap();
        constraint.validate().unwrap();
        assert_eq!(constraint.tools_in_play().len(), 1);
        let none: Constraint = serde_json::from_value(json!({"tools": [tool("f")], "tool_choice": "none"})).unwrap();
        assert!(none.is_empty());
        let schema: Constraint = serde_json::from_value(json!({
            "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}, "strict": true}}
        }))
        .unwrap();
        assert!(!schema.is_empty());
        // Recorded compactly: defaults are left out, and it reads back the same.
        let recorded = serde_json::to_value(&schema).unwrap();
        assert_eq!(serde_json::from_value::<Constraint>(recorded).unwrap(), schema);
    }
}
