//! The engine on the default model, SmolLM2-135M-Instruct Q4_1 (`cargo xtask test` fetches it
//! and sets `VERITAS_TEST_GGUF`).

use std::{
    ops::ControlFlow,
    path::{Path, PathBuf},
    sync::OnceLock,
};

use veritas_llm::{Constraint, Extras, FinishReason, LlmError, LlmModel, SamplingParams, inspect_gguf};

fn gguf() -> PathBuf {
    let path = std::env::var("VERITAS_TEST_GGUF")
        .expect("VERITAS_TEST_GGUF; `cargo xtask test` fetches the model and sets it");
    PathBuf::from(path)
}

fn model() -> &'static LlmModel {
    static MODEL: OnceLock<LlmModel> = OnceLock::new();
    MODEL.get_or_init(|| LlmModel::load(&gguf(), 2).unwrap())
}

fn chat(user: &str) -> String {
    format!("<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n")
}

fn generate(prompt: &str, params: &SamplingParams) -> veritas_llm::Generation {
    model().generate(prompt, params, &Extras::default(), |_| ControlFlow::Continue(())).unwrap()
}

/// A GGUF header with one key, `general.architecture`, and no tensors.
fn write_gguf(path: &Path, architecture: &str) {
    let mut bytes = b"GGUF".to_vec();
    bytes.extend_from_slice(&3u32.to_le_bytes());
    bytes.extend_from_slice(&0u64.to_le_bytes());
    bytes.extend_from_slice(&1u64.to_le_bytes());
    let key = b"general.architecture";
    bytes.extend_from_slice(&(key.len() as u64).to_le_bytes());
    bytes.extend_from_slice(key);
    bytes.extend_from_slice(&8u32.to_le_bytes());
    bytes.extend_from_slice(&(architecture.len() as u64).to_le_bytes());
    bytes.extend_from_slice(architecture.as_bytes());
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn inspection_reads_the_header_and_refuses_what_llama_cpp_cannot_run() {
    let info = inspect_gguf(&gguf()).unwrap();
    assert_eq!(info.architecture, "llama");
    assert_eq!(info.context_length, Some(8192));
    assert!(info.chat_template.unwrap().contains("<|im_start|>"));
    assert_eq!(info.tensors, 272);

    let dir = tempfile::tempdir().unwrap();
    let onnx = dir.path().join("model.onnx");
    std::fs::write(&onnx, b"\x08\x07\x12\x04not a gguf").unwrap();
    assert!(matches!(inspect_gguf(&onnx), Err(LlmError::NotGguf)));
    let strange = dir.path().join("strange.gguf");
    write_gguf(&strange, "nonsense");
    let err = inspect_gguf(&strange).unwrap_err();
    assert!(matches!(err, LlmError::UnsupportedArchitecture { .. }), "{err}");
    assert!(err.to_string().contains("`nonsense`"), "{err}");
    let truncated = dir.path().join("truncated.gguf");
    std::fs::write(&truncated, b"GGUF\x03\x00").unwrap();
    assert!(matches!(inspect_gguf(&truncated), Err(LlmError::Malformed(_))));
}

#[test]
fn the_same_seed_gives_the_same_tokens() {
    let prompt = chat("Write one sentence about the sea.");
    let params = SamplingParams { temperature: 0.9, top_p: 0.95, top_k: 40, seed: 7, max_tokens: 24, stop: vec![] };
    let first = generate(&prompt, &params);
    let again = generate(&prompt, &params);
    assert_eq!(first.tokens, again.tokens);
    assert_eq!(first.text, again.text);
    assert!(!first.tokens.is_empty());
    // Other seeds give other answers (three tries, so that a coincidence cannot fail the test).
    let differs =
        (8..11).any(|seed| generate(&prompt, &SamplingParams { seed, ..params.clone() }).tokens != first.tokens);
    assert!(differs, "three other seeds all gave the same 24 tokens");
}

#[test]
fn max_tokens_stop_sequences_and_cancellation_end_a_generation() {
    let prompt = chat("Count from one to twenty, in words, separated by commas.");
    let greedy = SamplingParams { temperature: 0.0, max_tokens: 8, ..Default::default() };
    let short = generate(&prompt, &greedy);
    assert_eq!(short.finish_reason, FinishReason::Length);
    assert_eq!(short.tokens.len(), 8);

    let long = generate(&prompt, &SamplingParams { max_tokens: 64, ..greedy.clone() });
    let cut = long.text.char_indices().nth(long.text.len().min(12) / 2).map_or(0, |(i, _)| i);
    let stop = long.text[cut..].chars().take(3).collect::<String>();
    assert!(!stop.is_empty(), "{:?}", long.text);
    let stopped = generate(&prompt, &SamplingParams { stop: vec![stop.clone()], ..long_params() });
    assert_eq!(stopped.finish_reason, FinishReason::Stop);
    assert!(!stopped.text.contains(&stop), "{:?} still holds {stop:?}", stopped.text);
    assert!(long.text.starts_with(&stopped.text));

    let mut pieces = 0;
    let cancelled = model()
        .generate(&prompt, &long_params(), &Extras::default(), |_| {
            pieces += 1;
            if pieces == 3 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
        })
        .unwrap();
    assert_eq!(cancelled.finish_reason, FinishReason::Cancelled);
    assert!(cancelled.tokens.len() < 64);
}

fn long_params() -> SamplingParams {
    SamplingParams { temperature: 0.0, max_tokens: 64, ..Default::default() }
}

#[test]
fn a_prompt_longer_than_the_context_names_both_numbers() {
    let prompt = "word ".repeat(9000);
    let err = model()
        .generate(&prompt, &SamplingParams::default(), &Extras::default(), |_| ControlFlow::Continue(()))
        .unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, LlmError::PromptTooLong { context: 8192, .. }), "{message}");
    assert!(message.contains("8192"), "{message}");
    let bad = SamplingParams { top_p: 0.0, ..Default::default() };
    assert!(
        model()
            .generate("hi", &bad, &Extras::default(), |_| ControlFlow::Continue(()))
            .unwrap_err()
            .to_string()
            .contains("top_p")
    );
}

#[test]
fn scoring_a_greedy_generation_finds_every_token_consistent() {
    let prompt = chat("What is the capital of France?");
    let params = SamplingParams { temperature: 0.0, max_tokens: 32, ..Default::default() };
    let extras = Extras { logprobs: true, top_logprobs: 3, grammar: None };
    let generation = model().generate(&prompt, &params, &extras, |_| ControlFlow::Continue(())).unwrap();
    // The alternatives at each position: the most likely first, the greedy token among them.
    assert_eq!(generation.top_logprobs.len(), generation.tokens.len());
    for ((top, token), logprob) in generation.top_logprobs.iter().zip(&generation.tokens).zip(&generation.logprobs) {
        assert_eq!(top.len(), 3);
        assert!(top.windows(2).all(|w| w[0].1 >= w[1].1), "{top:?}");
        assert_eq!(top[0], (*token, *logprob));
    }
    assert_eq!(generation.logprobs.len(), generation.tokens.len());
    let scores = model().score(&prompt, &generation.tokens, &params, None).unwrap();
    assert_eq!(scores.len(), generation.tokens.len());
    for ((score, token), at_generation) in scores.iter().zip(&generation.tokens).zip(&generation.logprobs) {
        assert_eq!(score.token, *token);
        assert!(score.logprob <= 0.0);
        // Batched scoring and incremental generation agree closely (bench `llm-drift` measures how closely).
        let drift = (score.logprob - at_generation).abs();
        assert!(drift < veritas_llm::LOGPROB_TOLERANCE, "{} vs {at_generation}", score.logprob);
    }
    let consistent = scores.iter().filter(|s| s.consistent).count();
    assert_eq!(consistent, scores.len(), "{scores:?}");

    // A completion the model would not write is not consistent with greedy sampling.
    let mut forged = generation.tokens.clone();
    let word = model().tokenize(" Berlin");
    forged.splice(0..word.len().min(forged.len()), word);
    let scores = model().score(&prompt, &forged, &params, None).unwrap();
    assert!(scores.iter().any(|s| !s.consistent));
    // And far from it: no drift of the logits would have made greedy sampling pick it.
    assert!(scores.iter().any(|s| !s.near), "{scores:?}");
}

#[test]
fn chat_prompts_come_from_the_gguf_template() {
    let messages = [veritas_llm::ChatMessage::new("user", "Hi")];
    let prompt = model().chat_prompt(&messages, &Constraint::default()).unwrap();
    assert!(prompt.starts_with("<|im_start|>system\nYou are a helpful AI assistant named SmolLM"), "{prompt}");
    assert!(prompt.ends_with("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"), "{prompt}");
    let answer = generate(&prompt, &SamplingParams { temperature: 0.0, max_tokens: 16, ..Default::default() });
    assert!(!answer.text.contains("<|im_end|>"));
    assert!(!answer.text.trim().is_empty());
}

#[test]
fn tokens_spell_characters_split_across_them_whole() {
    let model = model();
    // Characters outside the vocabulary's merges become byte tokens, one UTF-8 byte each.
    let text = "colours: 🟥🟩🟦 — 赤緑青";
    let tokens = model.tokenize(text);
    let one_by_one: String = tokens.iter().map(|t| model.piece(*t)).collect();
    assert_ne!(one_by_one, text, "some character is split across tokens, or this test proves nothing");
    assert_eq!(model.spell(&tokens), text);
    // An incomplete character at the very end is replaced, as in a generation cut short.
    assert_eq!(model.spell(&tokens[..tokens.len() - 1]).chars().last(), Some('\u{FFFD}'));
}

/// A model whose generations decode together, eight at a time.
fn batched() -> &'static LlmModel {
    static MODEL: OnceLock<LlmModel> = OnceLock::new();
    MODEL.get_or_init(|| {
        let options = veritas_llm::BatchOptions { threads: 2, sequences: 8, context: 4096 };
        LlmModel::load_with(&gguf(), options, std::sync::Arc::new(veritas_llm::DecodeSlots::new(1))).unwrap()
    })
}

#[test]
fn concurrent_generations_decode_together_and_each_scores_as_honest() {
    let questions = [
        "What is the capital of France?",
        "Name three colours.",
        "Write a haiku about rain.",
        "What is 2 + 2?",
        "Say hello in Spanish.",
        "Why is the sky blue? Answer in one sentence.",
        "List the days of the week.",
        "Give me a word that rhymes with cat.",
        "What do bees make?",
        "Tell me a fun fact about octopuses.",
    ];
    let params = |i: usize| SamplingParams {
        temperature: if i.is_multiple_of(2) { 0.0 } else { 0.8 },
        top_p: 0.95,
        top_k: 40,
        seed: i as u32,
        max_tokens: 24 + 4 * i as u32,
        stop: vec![],
    };
    // Ten at once (more than the loop's eight sequences: two wait for a free one), with
    // prompts of different lengths that join while the others decode.
    let generations: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = questions
            .iter()
            .enumerate()
            .map(|(i, question)| {
                scope.spawn(move || {
                    let mut streamed = String::new();
                    let extras = Extras { logprobs: true, ..Default::default() };
                    let generation = batched()
                        .generate(&chat(question), &params(i), &extras, |text| {
                            streamed.push_str(text);
                            ControlFlow::Continue(())
                        })
                        .unwrap();
                    (generation, streamed)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (i, (generation, streamed)) in generations.iter().enumerate() {
        assert!(!generation.tokens.is_empty(), "{i}");
        assert_eq!(&generation.text, streamed, "{i}: the streamed text is the generation's");
        assert!(generation.tokens.len() <= params(i).max_tokens as usize);
        // Scored alone, teacher-forced, each batched answer is what the sampler could give.
        let scores = model().score(&chat(questions[i]), &generation.tokens, &params(i), None).unwrap();
        // As the validators judge: every token near the sampler's support, and few just outside.
        assert!(scores.iter().all(|s| s.near), "{i}: {scores:?}");
        let inconsistent = scores.iter().filter(|s| !s.consistent).count();
        let allowed =
            (scores.len() as f64 * veritas_llm::INCONSISTENT_TOLERANCE) as usize + veritas_llm::INCONSISTENT_FLOOR;
        assert!(inconsistent <= allowed, "{i}: {inconsistent} inconsistent of {}", scores.len());
        for (score, logprob) in scores.iter().zip(&generation.logprobs) {
            assert!((score.logprob - logprob).abs() < veritas_llm::LOGPROB_TOLERANCE, "{i}");
        }
    }
    // A greedy answer decoded in the batch is the answer decoded alone, token for token here
    // (batch shape moves logits by ~1e-6 nats, far from the gap between the top two tokens).
    let alone = generate(&chat(questions[0]), &params(0));
    assert_eq!(alone.tokens, generations[0].0.tokens);
}

#[test]
fn a_json_schema_constrains_every_token_and_scoring_refuses_one_outside_it() {
    let constraint: Constraint = serde_json::from_value(serde_json::json!({
        "response_format": {"type": "json_schema", "json_schema": {"name": "person", "strict": true, "schema": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
            "required": ["name", "age"],
            "additionalProperties": false,
        }}}
    }))
    .unwrap();
    let grammar = constraint.grammar().unwrap().unwrap();
    let prompt = chat("Invent a person. Answer in JSON.");
    let params = SamplingParams { temperature: 0.7, seed: 3, max_tokens: 64, ..Default::default() };
    let extras = Extras { grammar: Some(grammar.clone()), ..Default::default() };
    let generation = batched().generate(&prompt, &params, &extras, |_| ControlFlow::Continue(())).unwrap();
    assert_eq!(generation.finish_reason, FinishReason::Stop, "{:?}", generation.text);
    let value: serde_json::Value = serde_json::from_str(&generation.text).expect("the answer parses");
    assert!(value["name"].is_string() && value["age"].is_u64(), "{value}");
    assert_eq!(value.as_object().unwrap().len(), 2, "{value}");

    let scores = model().score(&prompt, &generation.tokens, &params, Some(&grammar)).unwrap();
    assert!(scores.iter().all(|s| s.allowed && s.consistent), "{scores:?}");
    // One token that the grammar does not allow (text where `{` must come) is caught there.
    let mut forged = generation.tokens.clone();
    forged[0] = model().tokenize("Sure")[0];
    let scores = model().score(&prompt, &forged, &params, Some(&grammar)).unwrap();
    assert_eq!(scores.len(), 1);
    assert!(!scores[0].allowed);
}

#[test]
fn a_required_tool_call_names_a_listed_function_with_arguments_that_fit_its_schema() {
    let constraint: Constraint = serde_json::from_value(serde_json::json!({
        "tools": [{"type": "function", "function": {
            "name": "get_weather",
            "description": "The weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        }}],
        "tool_choice": "required",
    }))
    .unwrap();
    let messages = [veritas_llm::ChatMessage::new("user", "What is the weather in Paris?")];
    let prompt = model().chat_prompt(&messages, &constraint).unwrap();
    assert!(prompt.contains("<tools>") && prompt.contains("get_weather"), "{prompt}");
    let grammar = constraint.grammar().unwrap().unwrap();
    let params = SamplingParams { temperature: 0.0, max_tokens: 64, ..Default::default() };
    let extras = Extras { grammar: Some(grammar.clone()), ..Default::default() };
    let generation = batched().generate(&prompt, &params, &extras, |_| ControlFlow::Continue(())).unwrap();
    let (_, calls) = veritas_llm::read_tool_calls(&generation.text);
    assert!(!calls.is_empty(), "{:?}", generation.text);
    for (name, arguments) in calls {
        assert_eq!(name, "get_weather");
        let arguments: serde_json::Value = serde_json::from_str(&arguments).unwrap();
        assert!(arguments["city"].is_string(), "{arguments}");
    }
    let scores = model().score(&prompt, &generation.tokens, &params, Some(&grammar)).unwrap();
    assert!(scores.iter().all(|s| s.allowed), "{scores:?}");
}

#[test]
fn a_prompt_that_begins_as_an_earlier_one_shares_its_cells_and_answers_the_same() {
    // Its own model (one sequence), so that no other test's prompts are kept in its cache.
    let model = LlmModel::load(&gguf(), 2).unwrap();
    let system = "<|im_start|>system\nYou are a careful assistant who answers in one short sentence.<|im_end|>\n";
    let prompt = |question: &str| format!("{system}{}", chat(question));
    let params = SamplingParams { temperature: 0.0, max_tokens: 16, ..Default::default() };
    let run = |text: &str| model.generate(text, &params, &Extras::default(), |_| ControlFlow::Continue(())).unwrap();
    let first = run(&prompt("What is the capital of France?"));
    assert_eq!(model.stats().shared.load(std::sync::atomic::Ordering::Relaxed), 0);
    // The same conversation again: all of its prompt but the last token is shared.
    let again = run(&prompt("What is the capital of France?"));
    let shared = model.stats().shared.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(shared as usize, first.prompt_tokens - 1);
    assert_eq!(again.tokens, first.tokens);
    // Another question after the same system prompt: the system prompt is shared.
    let other = run(&prompt("Name a colour."));
    let more = model.stats().shared.load(std::sync::atomic::Ordering::Relaxed) - shared;
    assert!(more as usize >= model.tokenize(system).len() - 1 && (more as usize) < other.prompt_tokens, "{more}");
    assert_eq!(other.tokens, run(&prompt("Name a colour.")).tokens);
}

#[test]
fn every_schema_of_the_conformance_set_becomes_a_grammar() {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../clients/schemas.json");
    let cases: Vec<serde_json::Value> = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    assert!(cases.len() >= 20);
    for case in cases {
        let constraint: Constraint = serde_json::from_value(serde_json::json!({
            "response_format": {"type": "json_schema", "json_schema": case}
        }))
        .unwrap();
        let grammar = constraint.grammar().unwrap_or_else(|err| panic!("{}: {err}", case["name"]));
        assert!(grammar.is_some_and(|g| g.gbnf.contains("root ::=")), "{}", case["name"]);
    }
}
