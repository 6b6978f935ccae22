//! Chat prompts: the model's own chat template (the Jinja source in the GGUF's
//! `tokenizer.chat_template`), rendered with minijinja as Hugging Face's tokenizers render it.

use minijinja::{Environment, ErrorKind, context};
use serde::{Deserialize, Serialize};

use crate::{LlmError, LlmResult};

/// One message of a conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `system`, `user`, `assistant` or `tool`.
    pub role: String,
    /// Its text (`null` reads as empty: an assistant's message that only calls tools).
    #[serde(deserialize_with = "null_is_empty")]
    pub content: String,
    /// An assistant's calls of tools.
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "null_is_default")]
    pub tool_calls: Vec<crate::ToolCall>,
    /// A tool's answer: the call it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// A tool's answer: the function's name (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl ChatMessage {
    /// A message of text.
    pub fn new(role: &str, content: &str) -> ChatMessage {
        ChatMessage {
            role: role.into(),
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
            name: None,
        }
    }
}

fn null_is_empty<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(deserializer)?.unwrap_or_default())
}

fn null_is_default<'de, D: serde::Deserializer<'de>, T: Deserialize<'de> + Default>(
    deserializer: D,
) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// How many template instructions one rendering may take (a conversation of hundreds of
/// messages takes far fewer).
pub const TEMPLATE_FUEL: u64 = 10_000_000;

/// The roles a message may have.
pub const ROLES: [&str; 4] = ["system", "user", "assistant", "tool"];

/// Renders `messages` with `template`, ending with the assistant's turn opened. A template
/// that renders tools itself (it names `tools`) gets the constraint's tools and the messages as
/// they are; any other gets them written as text ([`crate::messages_for_template`]).
pub fn render_chat(
    template: &str,
    messages: &[ChatMessage],
    constraint: &crate::Constraint,
    bos: &str,
    eos: &str,
) -> LlmResult<String> {
    if messages.is_empty() {
        return Err(LlmError::InvalidMessages("a conversation needs at least one message".into()));
    }
    if let Some((i, message)) = messages.iter().enumerate().find(|(_, m)| !ROLES.contains(&m.role.as_str())) {
        return Err(LlmError::InvalidMessages(format!(
            "message {i} has role {:?}; the roles are system, user, assistant and tool",
            message.role
        )));
    }
    let mut env = Environment::new();
    // A template comes with an uploaded model: it may not run forever.
    env.set_fuel(Some(TEMPLATE_FUEL));
    minijinja_contrib::add_to_environment(&mut env);
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    env.add_function("raise_exception", |message: String| -> Result<String, minijinja::Error> {
        Err(minijinja::Error::new(ErrorKind::InvalidOperation, message))
    });
    env.add_template("chat", template)
        .map_err(|err| LlmError::Malformed(format!("the chat template does not parse: {err}")))?;
    let template = env.get_template("chat").map_err(|err| LlmError::Malformed(err.to_string()))?;
    let native = template.source().contains("tools");
    let tools: Vec<&crate::Tool> = if native { constraint.tools_in_play() } else { Vec::new() };
    let written;
    let messages = if native || constraint.tools_in_play().is_empty() && !messages.iter().any(needs_writing) {
        messages
    } else {
        written = crate::messages_for_template(messages, constraint);
        &written
    };
    template
        .render(context! {
            messages => minijinja::value::Value::from(minijinja::value::Serde(messages)),
            tools => if tools.is_empty() { minijinja::value::Value::UNDEFINED } else { minijinja::value::Value::from(minijinja::value::Serde(tools)) },
            add_generation_prompt => true,
            bos_token => bos,
            eos_token => eos,
        })
        .map_err(|err| LlmError::InvalidMessages(format!("the model's chat template refused them: {err}")))
}

/// Whether a message has tool calls or a tool's answer to be written as text.
fn needs_writing(message: &ChatMessage) -> bool {
    !message.tool_calls.is_empty() || message.role == "tool"
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHATML: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are helpful.<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    fn message(role: &str, content: &str) -> ChatMessage {
        ChatMessage::new(role, content)
    }

    fn none() -> crate::Constraint {
        crate::Constraint::default()
    }

    #[test]
    fn a_chatml_template_renders_with_its_default_system_prompt() {
        let prompt = render_chat(CHATML, &[message("user", "Hi")], &none(), "", "").unwrap();
        assert_eq!(
            prompt,
            "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn bad_conversations_are_named() {
        assert!(render_chat(CHATML, &[], &none(), "", "").unwrap_err().to_string().contains("at least one"));
        let err = render_chat(CHATML, &[message("wizard", "x")], &none(), "", "").unwrap_err().to_string();
        assert!(err.contains("\"wizard\""), "{err}");
        let strict = "{% if messages[0]['role'] != 'user' %}{{ raise_exception('first must be user') }}{% endif %}";
        let err = render_chat(strict, &[message("assistant", "x")], &none(), "", "").unwrap_err().to_string();
        assert!(err.contains("first must be user"), "{err}");
        assert!(render_chat("{% for %}", &[message("user", "x")], &none(), "", "").is_err());
        // A template that would loop for ever runs out of fuel.
        let endless = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}";
        assert!(render_chat(endless, &[message("user", "x")], &none(), "", "").is_err());
    }
}
