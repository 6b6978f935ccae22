//! Whether a gateway admits a worker's answer: a receipt that holds, in this network, signed by
//! the worker asked, for the model, mode, input and request asked, a `tee` claim's evidence
//! under the network's policy bound to the nonce sent, and nothing added after signing (no
//! verdicts, no settlement). Whether the output is right is the validators' question.

use veritas_llm::{Generation, SamplingParams};
use veritas_primitives::{Address, B256, ClaimDomain, Mode, ModelId, Receipt, TensorData, Value, Values};
use veritas_verifier::{Expectations, VerifyError, tee::Policy, verify_receipt};

/// What a gateway asked a worker for.
#[derive(Clone, Debug)]
pub struct Order<'a> {
    /// The network's claim domain.
    pub domain: ClaimDomain,
    /// The worker asked.
    pub worker: Address,
    /// The model asked for.
    pub model: ModelId,
    /// The mode asked for.
    pub mode: Mode,
    /// The input's hash, when the gateway knows it (ONNX: it parsed the input).
    pub input_hash: Option<B256>,
    /// The request id the claim must carry (a contract's request).
    pub request_id: Option<B256>,
    /// The nonce a `tee` attestation must bind.
    pub nonce: &'a [u8],
    /// The enclaves accepted.
    pub tee_policy: &'a std::sync::Arc<Policy>,
}

/// Why a worker's answer is not admitted.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The receipt itself does not hold.
    #[error("its receipt does not hold: {0}")]
    DoesNotHold(VerifyError),
    /// The attestation binds another nonce.
    #[error("its attestation binds another nonce than the one sent")]
    OtherNonce,
    /// Signed in another network's domain.
    #[error("its receipt is for another network")]
    OtherNetwork,
    /// Signed by another key than the worker asked.
    #[error("the receipt is signed by {0}")]
    OtherSigner(Address),
    /// A claim in another mode.
    #[error("the claim's mode is {claimed}, {asked} was asked")]
    OtherMode {
        /// The claim's.
        claimed: Mode,
        /// The one asked for.
        asked: Mode,
    },
    /// A claim about another input.
    #[error("the claim is about another input")]
    OtherInput,
    /// A claim answering another request.
    #[error("the claim answers request {claimed}, not {asked}")]
    OtherRequest {
        /// The claim's request id.
        claimed: B256,
        /// The one asked for.
        asked: B256,
    },
    /// Verdicts or a settlement on a claim just made.
    #[error("a fresh claim carries no verdicts or settlement")]
    NotFresh,
    /// A confidential claim that is not one: plaintext carried, or its parameters' marks missing.
    #[error("its confidential answer {0}")]
    NotConfidential(&'static str),
    /// A chat claim whose messages are not the ones sent.
    #[error("changed the messages")]
    OtherMessages,
    /// A completion claim whose prompt is not the one sent.
    #[error("changed the prompt")]
    OtherPrompt,
    /// The text streamed to the client is not the text the claim signs.
    #[error("it streamed another text than its receipt signs")]
    StreamedOther,
    /// The generation it reported is not the receipt's output.
    #[error("its generation is not the receipt's output ({0})")]
    OtherGeneration(&'static str),
    /// A sampling parameter in the claim is not the one sent.
    #[error("the claim's sampling parameter {0} is not the one sent")]
    OtherSampling(&'static str),
}

/// Whether a worker's answer to `order` is admitted (see the module's documentation).
pub fn check_work(receipt: &Receipt, order: &Order<'_>) -> Result<(), Refusal> {
    let expect = Expectations { model_id: Some(order.model), tee_policy: order.tee_policy.clone() };
    let report = verify_receipt(receipt, &expect).map_err(Refusal::DoesNotHold)?;
    if order.mode == Mode::Tee && report.tee_nonce.as_deref() != Some(order.nonce) {
        return Err(Refusal::OtherNonce);
    }
    if receipt.domain != order.domain {
        return Err(Refusal::OtherNetwork);
    }
    if receipt.claim.worker != order.worker {
        return Err(Refusal::OtherSigner(receipt.claim.worker));
    }
    if receipt.claim.mode != order.mode {
        return Err(Refusal::OtherMode { claimed: receipt.claim.mode, asked: order.mode });
    }
    if let Some(hash) = order.input_hash
        && receipt.claim.input_hash != hash
    {
        return Err(Refusal::OtherInput);
    }
    if !receipt.verdicts.is_empty() || receipt.settlement.is_some() {
        return Err(Refusal::NotFresh);
    }
    if let Some(asked) = order.request_id
        && receipt.claim.request_id != asked
    {
        return Err(Refusal::OtherRequest { claimed: receipt.claim.request_id, asked });
    }
    Ok(())
}

/// Whether a worker's chat answer is what the client saw and what was asked: the receipt's text
/// and tokens are the generation's, the text streamed is the receipt's text, and the receipt's
/// sampling parameters are the ones sent, with the generation's finish reason.
pub fn check_chat_answer(
    receipt: &Receipt,
    generation: &Generation,
    streamed: &str,
    sent: &SamplingParams,
    constraint: &veritas_llm::Constraint,
) -> Result<(), Refusal> {
    let output = receipt.body.output.as_ref();
    if string_value(output, "text").as_deref() != Some(generation.text.as_str()) {
        return Err(Refusal::OtherGeneration("text"));
    }
    let tokens: Vec<i64> = generation.tokens.iter().map(|t| i64::from(*t)).collect();
    match output.and_then(|o| o.get("tokens")) {
        Some(Value::Tensor(tensor)) if tensor.data == TensorData::Int64(tokens) => {}
        _ => return Err(Refusal::OtherGeneration("tokens")),
    }
    if streamed != generation.text {
        return Err(Refusal::StreamedOther);
    }
    check_sampling(receipt, sent)?;
    let param = |name: &str| receipt.body.params.as_ref().and_then(|p| p.0.get(name));
    if param("finish_reason") != serde_json::to_value(generation.finish_reason).ok().as_ref() {
        return Err(Refusal::OtherGeneration("finish reason"));
    }
    let recorded = if constraint.is_empty() { None } else { serde_json::to_value(constraint).ok() };
    if param("constraint") != recorded.as_ref() {
        return Err(Refusal::OtherSampling("constraint"));
    }
    Ok(())
}

/// Whether the receipt's sampling parameters are the ones sent.
fn check_sampling(receipt: &Receipt, sent: &SamplingParams) -> Result<(), Refusal> {
    let params = receipt.body.params.as_ref().map(|p| &p.0);
    let param = |name: &str| params.and_then(|p| p.get(name));
    let number = |name: &str| param(name).and_then(serde_json::Value::as_f64);
    let expected = [
        ("temperature", f64::from(sent.temperature)),
        ("top_p", f64::from(sent.top_p)),
        ("top_k", f64::from(sent.top_k)),
        ("seed", f64::from(sent.seed)),
        ("max_tokens", f64::from(sent.max_tokens)),
    ];
    for (name, value) in expected {
        if number(name) != Some(value) {
            return Err(Refusal::OtherSampling(name));
        }
    }
    if param("stop") != Some(&serde_json::json!(sent.stop)) {
        return Err(Refusal::OtherSampling("stop"));
    }
    Ok(())
}

/// Whether a worker's confidential answer is one: the receipt carries no input or output (only
/// their commitments), its parameters name the scheme, and a chat's (`sent`: its sampling) name
/// the sampling sent and the tokens produced, which are returned: what the answer is charged for.
pub fn check_confidential_answer(receipt: &Receipt, sent: Option<&SamplingParams>) -> Result<u64, Refusal> {
    if receipt.body.input.is_some() || receipt.body.output.is_some() {
        return Err(Refusal::NotConfidential("carries plaintext"));
    }
    let params = receipt.body.params.as_ref().ok_or(Refusal::NotConfidential("carries no parameters"))?;
    if !veritas_verifier::confidential::is_confidential(params) {
        return Err(Refusal::NotConfidential("does not name the confidential scheme"));
    }
    let Some(sent) = sent else { return Ok(0) };
    check_sampling(receipt, sent)?;
    veritas_verifier::confidential::completion_tokens(params)
        .ok_or(Refusal::NotConfidential("does not name the tokens it produced"))
}

/// The one string of a named string tensor.
pub fn string_value(values: Option<&Values>, name: &str) -> Option<String> {
    match values?.get(name)? {
        Value::Tensor(tensor) => match &tensor.data {
            TensorData::String(strings) => strings.first().cloned(),
            _ => None,
        },
        _ => None,
    }
}

/// Whether a chat claim's input is the conversation (as JSON) or the raw prompt sent.
pub fn check_chat(receipt: &Receipt, messages_json: &str, prompt: Option<&str>) -> Result<(), Refusal> {
    let input = receipt.body.input.as_ref();
    if string_value(input, "messages").unwrap_or_default() != messages_json {
        return Err(Refusal::OtherMessages);
    }
    if let Some(prompt) = prompt
        && string_value(input, "prompt").as_deref() != Some(prompt)
    {
        return Err(Refusal::OtherPrompt);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::{collections::BTreeMap, sync::Arc};

    use veritas_primitives::{Claim, Params, ReceiptBody, Tensor, WorkerKey, values::values_hash};

    use super::*;

    fn text(name: &str, value: &str) -> Value {
        Value::Tensor(Tensor::new(name, vec![1], TensorData::String(vec![value.into()])).unwrap())
    }

    /// An honest chat receipt from `key`, and the order it answers.
    fn honest(key: &WorkerKey) -> (Receipt, ClaimDomain, ModelId) {
        let domain = ClaimDomain::dev();
        let manifest = serde_json::json!({"format": "gguf", "files": [], "schema": {"inputs": [], "outputs": []}});
        let model = ModelId::of_manifest(&serde_json::to_vec(&manifest).unwrap());
        let input: Values = BTreeMap::from([
            ("messages".to_owned(), text("messages", "[{\"role\":\"user\",\"content\":\"hi\"}]")),
            ("prompt".to_owned(), text("prompt", "hi")),
        ]);
        let output: Values = BTreeMap::from([("text".to_owned(), text("text", "hello"))]);
        let claim = Claim {
            request_id: B256::repeat_byte(9),
            model_id: model,
            input_hash: values_hash(&input),
            output_hash: values_hash(&output),
            params_hash: Params::default().hash(),
            mode: Mode::Signed,
            worker: key.address(),
            timestamp: 1,
        };
        let mut receipt = Receipt::new(domain, key.sign_claim(claim, &domain).unwrap());
        receipt.body = ReceiptBody { input: Some(input), output: Some(output), ..Default::default() };
        (receipt, domain, model)
    }

    #[test]
    fn an_answer_is_admitted_only_as_asked() {
        let key = WorkerKey::random();
        let policy = Arc::new(Policy::default());
        let (receipt, domain, model) = honest(&key);
        let order = Order {
            domain,
            worker: key.address(),
            model,
            mode: Mode::Signed,
            input_hash: Some(receipt.claim.input_hash),
            request_id: Some(B256::repeat_byte(9)),
            nonce: &[],
            tee_policy: &policy,
        };
        let stranger = WorkerKey::random().address();
        let other_domain = ClaimDomain { chain_id: 1, ..domain };
        let cases: Vec<(Order<'_>, Option<Refusal>)> = vec![
            (order.clone(), None),
            (Order { worker: stranger, ..order.clone() }, Some(Refusal::OtherSigner(key.address()))),
            (
                Order { mode: Mode::Reexec, ..order.clone() },
                Some(Refusal::OtherMode { claimed: Mode::Signed, asked: Mode::Reexec }),
            ),
            (Order { input_hash: Some(B256::ZERO), ..order.clone() }, Some(Refusal::OtherInput)),
            (Order { input_hash: None, ..order.clone() }, None),
            (Order { domain: other_domain, ..order.clone() }, Some(Refusal::OtherNetwork)),
            (
                Order { request_id: Some(B256::ZERO), ..order.clone() },
                Some(Refusal::OtherRequest { claimed: B256::repeat_byte(9), asked: B256::ZERO }),
            ),
        ];
        for (order, expected) in cases {
            assert_eq!(check_work(&receipt, &order).err(), expected, "{order:?}");
        }
        // Another model: the receipt does not hold for it.
        let other = Order { model: ModelId::of_manifest(b"other"), ..order.clone() };
        assert!(matches!(check_work(&receipt, &other), Err(Refusal::DoesNotHold(_))));
        // A verdict added after signing, or a settlement: not a fresh claim.
        let validator = WorkerKey::random();
        let check = veritas_primitives::Check::Signed;
        let digest = veritas_primitives::verdict::verdict_digest(&domain, receipt.id(), true, check);
        let mut verdicted = receipt.clone();
        verdicted.verdicts.push(veritas_primitives::Verdict {
            check,
            validator: validator.address(),
            valid: true,
            signature: validator.sign_digest(&digest).unwrap().to_vec().into(),
        });
        assert_eq!(check_work(&verdicted, &order).err(), Some(Refusal::NotFresh));
        let mut settled = receipt.clone();
        settled.settlement = Some(veritas_primitives::Settlement {
            chain_id: domain.chain_id,
            contract: domain.verifying_contract,
            batch_root: veritas_primitives::merkle_leaf(&receipt.id()),
            merkle_path: Vec::new(),
            transaction: B256::ZERO,
            block: 1,
        });
        assert_eq!(check_work(&settled, &order).err(), Some(Refusal::NotFresh));
        // An output changed after signing.
        let mut changed = receipt.clone();
        changed.body.output = Some(BTreeMap::from([("text".to_owned(), text("text", "bye"))]));
        assert!(matches!(check_work(&changed, &order), Err(Refusal::DoesNotHold(_))));
    }

    #[test]
    fn a_chat_answer_must_be_what_was_streamed_and_asked() {
        use veritas_llm::{FinishReason, Generation, SamplingParams};
        let (base, _, _) = honest(&WorkerKey::random());
        let sampling = SamplingParams {
            temperature: 0.5,
            top_p: 0.9,
            top_k: 40,
            seed: 7,
            max_tokens: 16,
            stop: vec!["\n".into()],
        };
        let generation = Generation {
            text: "hello".into(),
            tokens: vec![1, 2],
            prompt_tokens: 3,
            finish_reason: FinishReason::Stop,
            logprobs: Vec::new(),
            top_logprobs: Vec::new(),
        };
        let params = |temperature: f32, finish: &str| {
            Params(BTreeMap::from([
                ("engine".to_owned(), serde_json::json!("llama.cpp")),
                ("threads".to_owned(), serde_json::json!(2)),
                ("temperature".to_owned(), serde_json::json!(f64::from(temperature))),
                ("top_p".to_owned(), serde_json::json!(f64::from(0.9f32))),
                ("top_k".to_owned(), serde_json::json!(40)),
                ("seed".to_owned(), serde_json::json!(7)),
                ("max_tokens".to_owned(), serde_json::json!(16)),
                ("stop".to_owned(), serde_json::json!(["\n"])),
                ("finish_reason".to_owned(), serde_json::json!(finish)),
            ]))
        };
        let answer = |text: &str, tokens: Vec<i64>, params: Params| {
            let mut receipt = base.clone();
            let tokens = Tensor::new("tokens", vec![tokens.len() as u64], TensorData::Int64(tokens)).unwrap();
            receipt.body.output = Some(BTreeMap::from([
                ("text".to_owned(), self::text("text", text)),
                ("tokens".to_owned(), Value::Tensor(tokens)),
            ]));
            receipt.body.params = Some(params);
            receipt
        };
        let honest = answer("hello", vec![1, 2], params(0.5, "stop"));
        for (receipt, streamed, expected) in [
            (&honest, "hello", None),
            (&honest, "hel", Some(Refusal::StreamedOther)),
            (&honest, "goodbye", Some(Refusal::StreamedOther)),
            (&answer("hullo", vec![1, 2], params(0.5, "stop")), "hello", Some(Refusal::OtherGeneration("text"))),
            (&answer("hello", vec![1, 3], params(0.5, "stop")), "hello", Some(Refusal::OtherGeneration("tokens"))),
            (&answer("hello", vec![1, 2], params(0.6, "stop")), "hello", Some(Refusal::OtherSampling("temperature"))),
            (
                &answer("hello", vec![1, 2], params(0.5, "length")),
                "hello",
                Some(Refusal::OtherGeneration("finish reason")),
            ),
        ] {
            assert_eq!(
                check_chat_answer(receipt, &generation, streamed, &sampling, &Default::default()).err(),
                expected,
                "{streamed}"
            );
        }
        let other_stop = SamplingParams { stop: Vec::new(), ..sampling.clone() };
        assert_eq!(
            check_chat_answer(&honest, &generation, "hello", &other_stop, &Default::default()).err(),
            Some(Refusal::OtherSampling("stop"))
        );
        // A response format or tools sent must be what the receipt records (and so what the
        // validators enforce): a worker that drops the constraint is refused, as is one that
        // records a constraint nobody sent.
        let json: veritas_llm::Constraint =
            serde_json::from_value(serde_json::json!({"response_format": {"type": "json_object"}})).unwrap();
        assert_eq!(
            check_chat_answer(&honest, &generation, "hello", &sampling, &json).err(),
            Some(Refusal::OtherSampling("constraint"))
        );
        let mut recorded = params(0.5, "stop");
        recorded.0.insert("constraint".into(), serde_json::to_value(&json).unwrap());
        let constrained = answer("hello", vec![1, 2], recorded);
        assert_eq!(check_chat_answer(&constrained, &generation, "hello", &sampling, &json).err(), None);
        assert_eq!(
            check_chat_answer(&constrained, &generation, "hello", &sampling, &Default::default()).err(),
            Some(Refusal::OtherSampling("constraint"))
        );
    }

    #[test]
    fn a_chat_answer_must_carry_the_messages_and_prompt_sent() {
        let key = WorkerKey::random();
        let (receipt, _, _) = honest(&key);
        let messages = "[{\"role\":\"user\",\"content\":\"hi\"}]";
        for (sent, prompt, expected) in [
            (messages, None, None),
            (messages, Some("hi"), None),
            ("[]", None, Some(Refusal::OtherMessages)),
            (messages, Some("hello"), Some(Refusal::OtherPrompt)),
        ] {
            assert_eq!(check_chat(&receipt, sent, prompt).err(), expected, "{sent} {prompt:?}");
        }
    }
}
