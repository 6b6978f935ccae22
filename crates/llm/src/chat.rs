//! Chat prompts: the model's own chat template (the Jinja source in the GGUF's
//! `tokenizer.chat_template`), rendered with minijinja as Hugging Face's tokenizers render it.

use minijinja::{Environment, ErrorKind, context};
use serde::{Deserialize, Serialize};

use crate::{LlmError, LlmResult};

/// One message of a conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// Its text.
    pub content: String,
}

/// How many template instructions one rendering may take (a conversation of hundreds of
/// messages takes far fewer).
pub const TEMPLATE_FUEL: u64 = 10_000_000;

/// The roles a message may have.
pub const ROLES: [&str; 3] = ["system", "user", "assistant"];

/// Renders `messages` with `template`, ending with the assistant's turn opened.
pub fn render_chat(template: &str, messages: &[ChatMessage], bos: &str, eos: &str) -> LlmResult<String> {
    if messages.is_empty() {
        return Err(LlmError::InvalidMessages("a conversation needs at least one message".into()));
    }
    if let Some((i, message)) = messages.iter().enumerate().find(|(_, m)| !ROLES.contains(&m.role.as_str())) {
        return Err(LlmError::InvalidMessages(format!(
            "message {i} has role {:?}; the roles are system, user and assistant",
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
    template
        .render(context! {
            messages => minijinja::value::Value::from(minijinja::value::Serde(messages)),
            add_generation_prompt => true,
            bos_token => bos,
            eos_token => eos,
        })
        .map_err(|err| LlmError::InvalidMessages(format!("the model's chat template refused them: {err}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHATML: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are helpful.<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    fn message(role: &str, content: &str) -> ChatMessage {
        ChatMessage { role: role.into(), content: content.into() }
    }

    #[test]
    fn a_chatml_template_renders_with_its_default_system_prompt() {
        let prompt = render_chat(CHATML, &[message("user", "Hi")], "", "").unwrap();
        assert_eq!(
            prompt,
            "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn bad_conversations_are_named() {
        assert!(render_chat(CHATML, &[], "", "").unwrap_err().to_string().contains("at least one"));
        let err = render_chat(CHATML, &[message("wizard", "x")], "", "").unwrap_err().to_string();
        assert!(err.contains("\"wizard\""), "{err}");
        let strict = "{% if messages[0]['role'] != 'user' %}{{ raise_exception('first must be user') }}{% endif %}";
        let err = render_chat(strict, &[message("assistant", "x")], "", "").unwrap_err().to_string();
        assert!(err.contains("first must be user"), "{err}");
        assert!(render_chat("{% for %}", &[message("user", "x")], "", "").is_err());
        // A template that would loop for ever runs out of fuel.
        let endless = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}";
        assert!(render_chat(endless, &[message("user", "x")], "", "").is_err());
    }
}
