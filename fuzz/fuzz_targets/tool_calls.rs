//! Fuzz target: what the API, `veritas proxy` and the validators read of a chat request and a
//! generated text: tools and response formats (OpenAI's JSON, checked), messages with tool calls
//! (rendered through a template), and tool calls read out of text however it is split into
//! streamed pieces. None may panic; reading the text whole or in pieces gives the same calls.
#![no_main]

use libfuzzer_sys::fuzz_target;
use veritas_llm::{ChatMessage, Constraint, Piece, ToolStream, read_tool_calls};

fuzz_target!(|data: &[u8]| {
    if let Ok(constraint) = serde_json::from_slice::<Constraint>(data) {
        let _ = constraint.validate();
        let _ = constraint.tools_prompt();
        if let Ok(messages) = serde_json::from_slice::<Vec<ChatMessage>>(data) {
            let _ = veritas_llm::messages_for_template(&messages, &constraint);
        }
    }
    if let Ok(messages) = serde_json::from_slice::<Vec<ChatMessage>>(data) {
        let template = "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}";
        let _ = veritas_llm::render_chat(template, &messages, &Constraint::default(), "", "");
    }
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (_, whole) = read_tool_calls(text);
    // In two streamed pieces, split at a character boundary chosen by the input.
    let split = (data.len() / 2..=data.len()).find(|&i| text.is_char_boundary(i)).unwrap_or(data.len());
    let mut stream = ToolStream::new();
    let mut pieces = stream.push(&text[..split]);
    pieces.extend(stream.push(&text[split..]));
    pieces.extend(stream.finish());
    let calls: Vec<(String, String)> = pieces
        .into_iter()
        .filter_map(|piece| match piece {
            Piece::Call { name, arguments, .. } => Some((name, arguments)),
            Piece::Content(_) => None,
        })
        .collect();
    assert_eq!(calls, whole, "the same calls, whole or streamed");
});
