//! Tools and structured output: what a request asks of the answer's shape (OpenAI's `tools`,
//! `tool_choice`, `parallel_tool_calls` and `response_format`), checked, and the grammar that
//! enforces it. How calls are written into the conversation and read out of the generated text
//! is `tool_calls`. The grammar comes from the JSON Schemas of
//! the tools' parameters (and of `response_format`) through llama.cpp's own converter, so that
//! every call parses and matches its function's schema; with `tool_choice: auto` it is lazy,
//! binding from the first `<tool_call>` on.
//!
//! The constraint is recorded in the receipt's parameters; the validators derive the same
//! grammar from it and refuse a token outside it (docs/llm.md, "Tools and structured output").

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{
    LlmError, LlmResult,
    tool_calls::{TOOL_CALL_CLOSE, TOOL_CALL_OPEN},
};

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
