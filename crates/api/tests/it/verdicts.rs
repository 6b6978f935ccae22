//! A node as validator: `POST /v1/verdicts` checks a receipt (signed or re-executed) and signs its
//! verdict, once per claim, with the check the claim calls for. Honest claims hold; a lying
//! worker's claim (consistent hashes, its own valid signature, a wrong output) is caught by
//! re-execution; an unregistered worker is caught by the signed check; a receipt that does not
//! hold by itself gets no verdict at all.

use serde_json::{Value, json};
use veritas_node::{ChainConfig, Node, NodeConfig, wire::InferRequest};
use veritas_primitives::{
    Receipt, TensorData, Value as Tensor, WorkerKey, recover_signer, values::values_hash, verdict::verdict_digest,
};

pub(crate) const KEY: &str = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";

async fn node(home: &std::path::Path) -> Node {
    node_with(home, |_| {}).await
}

pub(crate) async fn node_with(home: &std::path::Path, configure: impl FnOnce(&mut NodeConfig)) -> Node {
    let ort = std::env::var("ORT_DYLIB_PATH").expect("ORT_DYLIB_PATH; `cargo xtask test` sets it");
    let mut config = NodeConfig::new(home.to_owned(), ort.into());
    // Every reexec claim re-executed, so that these tests know each claim's check.
    config.reexec_sampling = 1.0;
    configure(&mut config);
    config.key_hex = Some(KEY.into());
    config.threads = Some(1);
    config.llm_threads = Some(2);
    config.chain = ChainConfig::Embedded { block_time: None };
    let node = Node::open(&config).await.unwrap();
    let examples = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/models");
    let staged = node.core().stager().stage_file(&examples.join("iris-logreg.onnx")).await.unwrap();
    let push = veritas_node::PushRequest { name: "iris".into(), staged, format: veritas_node::ModelFormat::Onnx };
    node.core().push_model(push).await.unwrap();
    node
}

/// The receipt re-signed by `key` after `change` edits its output: every hash consistent, the
/// signature valid, the output a lie.
pub(crate) fn lie(receipt: &Receipt, key: &WorkerKey, change: impl FnOnce(&mut veritas_primitives::Values)) -> Receipt {
    let mut output = receipt.body.output.clone().unwrap();
    change(&mut output);
    let mut claim = receipt.claim.clone();
    claim.output_hash = values_hash(&output);
    claim.worker = key.address();
    let mut forged = Receipt::new(receipt.domain, key.sign_claim(claim, &receipt.domain).unwrap());
    forged.body = receipt.body.clone();
    forged.body.output = Some(output);
    forged
}

#[tokio::test]
async fn re_execution_catches_a_wrong_output_and_the_signed_check_an_unregistered_worker() {
    let home = tempfile::tempdir().unwrap();
    let node = node(home.path()).await;
    let request = InferRequest {
        model: "iris".into(),
        input: json!({"float_input": [[5.1, 3.5, 1.4, 0.2]]}),
        mode: Some(veritas_primitives::Mode::Reexec),
        request_id: None,
        nonce: None,
        sealed: None,
    };
    let honest = node.infer(request.clone(), None).await.unwrap().receipt;
    let fresh = || {
        let node = node.clone();
        let request = request.clone();
        async move { node.infer(request, None).await.unwrap().receipt }
    };

    let served = crate::harness::Served::start(node.clone(), Default::default()).await;
    let url = served.url.clone();
    let http = reqwest::Client::new();
    let gateway = crate::harness::registered_gateway(&node, 6).await;
    let validator = node.validator().unwrap().address();
    // A call from the registered gateway to this node's validator.
    let judge = |receipt: &Receipt, check: &str| {
        let body = serde_json::to_vec(receipt).unwrap();
        let headers = crate::harness::call_headers(&gateway, &node, validator, "/v1/verdicts", &body);
        let mut request = http.post(format!("{url}/v1/verdicts?check={check}")).body(body);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        async move {
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.json::<Value>().await.unwrap())
        }
    };

    // Only a registered gateway's calls are taken: nobody else gets a verdict signed.
    let body = serde_json::to_vec(&honest).unwrap();
    let post = |headers: Vec<(&'static str, String)>| {
        let mut request = http.post(format!("{url}/v1/verdicts")).body(body.clone());
        for (name, value) in headers {
            request = request.header(name, value);
        }
        async move {
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.json::<Value>().await.unwrap()["error"]["message"].to_string())
        }
    };
    let (status, message) = post(Vec::new()).await;
    assert_eq!(status, 401, "{message}");
    assert!(message.contains("only from the network's registered gateways"), "{message}");
    let stranger = veritas_primitives::WorkerKey::from_bytes(&veritas_primitives::keccak256(b"no gateway")).unwrap();
    let (status, message) =
        post(crate::harness::call_headers(&stranger, &node, validator, "/v1/verdicts", &body)).await;
    assert_eq!(status, 403, "{message}");
    assert!(message.contains("is not a registered gateway"), "{message}");
    let elsewhere = crate::harness::call_headers(&gateway, &node, stranger.address(), "/v1/verdicts", &body);
    let (status, message) = post(elsewhere).await;
    assert_eq!(status, 401, "a call signed for another node: {message}");
    let other_path = crate::harness::call_headers(&gateway, &node, validator, "/v1/batches/sign", &body);
    assert_eq!(post(other_path).await.0, 401, "a call signed for another route");
    let once = crate::harness::call_headers(&gateway, &node, validator, "/v1/verdicts", &body);
    assert_eq!(post(once.clone()).await.0, 200);
    let (status, message) = post(once).await;
    assert_eq!(status, 401, "{message}");
    assert!(message.contains("already made"), "{message}");

    let (status, answer) = judge(&honest, "reexec").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["valid"], true, "{answer}");
    // The verdict is the validator's EIP-712 signature over (receipt id, valid).
    let verdict: veritas_primitives::Verdict = serde_json::from_value(answer["verdict"].clone()).unwrap();
    assert_eq!(verdict.check, veritas_primitives::Check::Reexec, "the verdict names its check");
    let digest = verdict_digest(&node.core().domain(), honest.id(), true, verdict.check);
    let signature: [u8; 65] = verdict.signature.to_vec().try_into().unwrap();
    assert_eq!(recover_signer(&digest, &signature).unwrap(), verdict.validator);
    // Asked again, the same verdict; asked for another check than the claim calls for, none.
    assert_eq!(judge(&honest, "reexec").await.1, answer, "one verdict per claim");
    let (status, other) = judge(&honest, "signed").await;
    assert_eq!((status, other["error"]["code"].as_str()), (400, Some("other_check")), "{other}");
    assert!(other["error"]["message"].as_str().unwrap().contains("checked reexec, not signed"), "{other}");

    // The worker lies about the output, consistently: only re-execution sees it.
    let worker = WorkerKey::from_bytes(&KEY.parse().unwrap()).unwrap();
    let wrong_label = |output: &mut veritas_primitives::Values| {
        let (_, first) = output.iter_mut().next().unwrap();
        if let Tensor::Tensor(tensor) = first
            && let TensorData::Int64(labels) = &mut tensor.data
        {
            labels[0] = (labels[0] + 1) % 3;
        }
    };
    let forged = lie(&honest, &worker, wrong_label);
    veritas_verifier::verify_receipt(&forged, &Default::default()).unwrap();
    let (_, reexec) = judge(&forged, "reexec").await;
    assert_eq!(reexec["valid"], false, "{reexec}");
    assert!(reexec["reason"].as_str().unwrap().contains("outputs differ"), "{reexec}");
    // The same lie in a signed claim: the signed check cannot see a consistent lie.
    let mut signed_lie = honest.clone();
    signed_lie.claim.mode = veritas_primitives::Mode::Signed;
    let signed_lie = lie(&signed_lie, &worker, wrong_label);
    let (_, signed) = judge(&signed_lie, "signed").await;
    assert_eq!(signed["valid"], true, "{signed}");

    // A claim by a key that is not a registered, staked inference node.
    let stranger = WorkerKey::from_bytes(&veritas_primitives::keccak256(b"stranger")).unwrap();
    let unregistered = lie(&honest, &stranger, |_| {});
    let (_, answer) = judge(&unregistered, "reexec").await;
    assert_eq!(answer["valid"], false);
    assert!(answer["reason"].as_str().unwrap().contains("not a registered"), "{answer}");

    // A copy of an honest claim whose data does not match it gets no verdict, and leaves the
    // claim's own verdict to come untouched.
    let next = fresh().await;
    let mut tampered = next.clone();
    tampered.body.input = forged.body.output.clone();
    let (status, answer) = judge(&tampered, "reexec").await;
    assert_eq!((status, answer["error"]["code"].as_str()), (422, Some("refused")), "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("no verdict"), "{answer}");
    let mut bare = next.clone();
    bare.body.input = None;
    assert_eq!(judge(&bare, "reexec").await.0, 422);
    let (_, answer) = judge(&next, "reexec").await;
    assert_eq!(answer["valid"], true, "{answer}");

    // Another network's claim, and garbage.
    let mut foreign = honest.clone();
    foreign.domain.chain_id = 1;
    let (status, answer) = judge(&foreign, "reexec").await;
    assert_eq!((status, answer["error"]["code"].as_str()), (400, Some("foreign_claim")), "{answer}");
    let garbage = b"{\"nope\": 1}".to_vec();
    let mut request = http.post(format!("{url}/v1/verdicts")).body(garbage.clone());
    for (name, value) in crate::harness::call_headers(&gateway, &node, validator, "/v1/verdicts", &garbage) {
        request = request.header(name, value);
    }
    assert_eq!(request.send().await.unwrap().status().as_u16(), 400, "a registered gateway's garbage");
    let metrics = node.core().metrics_text();
    assert!(metrics.contains("veritas_verdicts_total{verdict=\"invalid\",check=\"reexec\"} 2"), "{metrics}");
    assert!(metrics.contains("veritas_verdicts_total{verdict=\"valid\",check=\"signed\"} 1"), "{metrics}");
}

#[tokio::test]
async fn a_language_model_claim_is_rescored_and_forged_tokens_are_caught() {
    let gguf = std::env::var("VERITAS_TEST_GGUF").expect("VERITAS_TEST_GGUF; `cargo xtask test` fetches the model");
    let home = tempfile::tempdir().unwrap();
    let node = node(home.path()).await;
    let staged = node.core().stager().stage_file(gguf.as_ref()).await.unwrap();
    let push = veritas_node::PushRequest { name: "smollm2".into(), staged, format: veritas_node::ModelFormat::Gguf };
    node.core().push_model(push).await.unwrap();
    let request = veritas_node::ChatRequest {
        model: "smollm2".into(),
        input: veritas_node::wire::ChatInput::Messages(vec![veritas_node::llm::ChatMessage::new(
            "user",
            "What is the capital of France?",
        )]),
        sampling: veritas_node::llm::SamplingParams { temperature: 0.0, max_tokens: 24, ..Default::default() },
        logprobs: false,
        mode: Some(veritas_primitives::Mode::Reexec),
        nonce: None,
        top_logprobs: 0,
        constraint: Default::default(),
    };
    let honest =
        node.gateway().unwrap().chat(request, None, |_| std::ops::ControlFlow::Continue(())).await.unwrap().receipt;
    let judgement =
        node.validator().unwrap().judge(&honest, Some(veritas_node::wire::CheckMode::Reexec)).await.unwrap();
    assert!(judgement.valid, "{}", judgement.reason);

    // A greedy claim whose answer was swapped for another: consistent hashes, not what the model says.
    let worker = WorkerKey::from_bytes(&KEY.parse().unwrap()).unwrap();
    let forged = lie(&honest, &worker, |output| {
        // An empty text passes the text check, so that scoring is what must catch the tokens.
        let text = veritas_primitives::Tensor::new("text", vec![1], TensorData::String(vec![String::new()])).unwrap();
        output.insert("text".into(), Tensor::Tensor(text));
        let ids: Vec<i64> = vec![8421, 314, 253, 8124, 30, 1073, 5116];
        output.insert(
            "tokens".into(),
            Tensor::Tensor(
                veritas_primitives::Tensor::new("tokens", vec![ids.len() as u64], TensorData::Int64(ids)).unwrap(),
            ),
        );
    });
    let judgement =
        node.validator().unwrap().judge(&forged, Some(veritas_node::wire::CheckMode::Reexec)).await.unwrap();
    assert!(!judgement.valid, "{}", judgement.reason);
    assert!(judgement.reason.contains("could not have been sampled"), "{}", judgement.reason);

    // Structured output: an honest answer constrained by a JSON Schema is judged valid by the
    // grammar the validator derives from the recorded constraint; the same answer with its
    // first token swapped for one the grammar refuses (re-signed, hashes consistent) is not.
    let constraint: veritas_node::llm::Constraint = serde_json::from_value(json!({
        "response_format": {"type": "json_schema", "json_schema": {"name": "city", "schema": {
            "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
            "additionalProperties": false,
        }}}
    }))
    .unwrap();
    let request = veritas_node::ChatRequest {
        model: "smollm2".into(),
        input: veritas_node::wire::ChatInput::Messages(vec![veritas_node::llm::ChatMessage::new(
            "user",
            "What is the capital of France? Answer in JSON.",
        )]),
        sampling: veritas_node::llm::SamplingParams { temperature: 0.0, max_tokens: 32, ..Default::default() },
        logprobs: false,
        mode: Some(veritas_primitives::Mode::Reexec),
        nonce: None,
        top_logprobs: 0,
        constraint,
    };
    let constrained =
        node.gateway().unwrap().chat(request, None, |_| std::ops::ControlFlow::Continue(())).await.unwrap().receipt;
    let params = constrained.body.params.as_ref().unwrap();
    assert!(params.0.contains_key("constraint"), "the receipt records the constraint: {params:?}");
    let judgement =
        node.validator().unwrap().judge(&constrained, Some(veritas_node::wire::CheckMode::Reexec)).await.unwrap();
    assert!(judgement.valid, "{}", judgement.reason);
    let outside = lie(&constrained, &worker, |output| {
        let Some(Tensor::Tensor(tokens)) = output.get_mut("tokens") else { panic!("no tokens") };
        let TensorData::Int64(ids) = &mut tokens.data else { panic!("tokens are not ids") };
        // ` Paris` where the grammar wants `{`.
        ids[0] = 7042;
        let text = veritas_primitives::Tensor::new("text", vec![1], TensorData::String(vec![String::new()])).unwrap();
        output.insert("text".into(), Tensor::Tensor(text));
    });
    let judgement =
        node.validator().unwrap().judge(&outside, Some(veritas_node::wire::CheckMode::Reexec)).await.unwrap();
    assert!(!judgement.valid, "{}", judgement.reason);
    assert!(judgement.reason.contains("outside the grammar"), "{}", judgement.reason);
}

#[tokio::test]
async fn a_model_with_a_tolerance_accepts_float_outputs_within_it_and_no_more() {
    let home = tempfile::tempdir().unwrap();
    // `iris`: the same file pushed without a tolerance, so its outputs must be exact.
    let node = node(home.path()).await;
    let served = crate::harness::Served::start(node.clone(), crate::harness::operator_config()).await;
    let url = served.url.clone();
    let http = reqwest::Client::new();
    let file = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/models/iris-logreg.onnx");
    let bytes = std::fs::read(file).unwrap();
    let push = |query: &str| {
        let target = format!("/v1/models?{query}");
        let mut request = http.post(format!("{url}{target}")).body(bytes.clone());
        for (name, value) in crate::harness::push_headers(&crate::harness::operator(), &node, &target, &bytes) {
            request = request.header(name, value);
        }
        async move {
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.json::<Value>().await.unwrap())
        }
    };

    // Refused tolerances name the field; nothing is stored.
    for (query, expected) in [
        ("name=bad&tolerance_abs=-1", "tolerance.abs must not be negative"),
        ("name=bad&tolerance_abs=0&tolerance_rel=0", "leave the tolerance out"),
        ("name=bad&tolerance_rel=inf", "tolerance.rel must be a finite number"),
        ("name=bad&format=gguf&tolerance_abs=0.001", "ONNX models only"),
    ] {
        let (status, answer) = push(query).await;
        assert_eq!((status, answer["error"]["code"].as_str()), (400, Some("invalid_tolerance")), "{query}: {answer}");
        assert!(answer["error"]["message"].as_str().unwrap().contains(expected), "{query}: {answer}");
    }
    assert!(node.core().model("bad").await.is_err());

    let (status, pushed) = push("name=iris-tolerant&tolerance_abs=0.001").await;
    assert_eq!(status, 201, "{pushed}");
    assert_eq!(pushed["manifest"]["tolerance"], json!({"abs": 0.001, "rel": 0.0}), "{pushed}");
    let exact = node.core().model("iris").await.unwrap();
    assert_eq!(exact.manifest.tolerance, None);
    assert_ne!(pushed["model_id"].as_str().unwrap(), exact.id.to_string(), "the tolerance is part of the model id");

    let infer = |model: &str| {
        let request = InferRequest {
            model: model.into(),
            input: json!({"float_input": [[5.1, 3.5, 1.4, 0.2]]}),
            mode: Some(veritas_primitives::Mode::Reexec),
            request_id: None,
            nonce: None,
            sealed: None,
        };
        let node = node.clone();
        async move { node.infer(request, None).await.unwrap().receipt }
    };
    let worker = WorkerKey::from_bytes(&KEY.parse().unwrap()).unwrap();
    // The receipt with the first class's probability moved by `delta`, consistently re-signed.
    let nudged = |receipt: &Receipt, delta: f32| {
        lie(receipt, &worker, |output| match output.get_mut("output_probability") {
            Some(Tensor::Int64Maps(maps)) => *maps[0].get_mut(&0).unwrap() += delta,
            other => panic!("unexpected output_probability {other:?}"),
        })
    };
    let judge = |receipt: Receipt| {
        let node = node.clone();
        async move {
            let judgement =
                node.validator().unwrap().judge(&receipt, Some(veritas_node::wire::CheckMode::Reexec)).await.unwrap();
            (judgement.valid, judgement.reason)
        }
    };

    let honest = infer("iris-tolerant").await;
    assert_eq!(honest.body.manifest.as_ref().unwrap()["tolerance"]["abs"], 0.001, "the claim signs the tolerance");
    let (valid, reason) = judge(honest.clone()).await;
    assert!(valid && reason.contains("the outputs are the same"), "{reason}");

    let (valid, reason) = judge(nudged(&honest, 1e-6)).await;
    assert!(valid, "{reason}");
    assert!(reason.contains("agree within the model's tolerance (abs 0.001 + rel 0.0"), "{reason}");

    let (valid, reason) = judge(nudged(&honest, -0.5)).await;
    assert!(!valid, "{reason}");
    assert!(reason.contains("output `output_probability`[0][0]: claimed 0.4815"), "{reason}");
    assert!(reason.contains("beyond abs 0.001 + rel 0.0"), "{reason}");

    // Labels are not floats: a changed label is caught whatever the tolerance.
    let relabelled = lie(&honest, &worker, |output| {
        if let Some(Tensor::Tensor(tensor)) = output.get_mut("output_label")
            && let TensorData::Int64(labels) = &mut tensor.data
        {
            labels[0] = (labels[0] + 1) % 3;
        }
    });
    let (valid, reason) = judge(relabelled).await;
    assert!(!valid && reason.contains("output `output_label`[0]: claimed 1, re-executed 0"), "{reason}");

    // Without a tolerance, the smallest nudge is a different output.
    let honest = infer("iris").await;
    let (valid, reason) = judge(nudged(&honest, 1e-6)).await;
    assert!(!valid && reason.contains("outputs differ"), "{reason}");
}

#[tokio::test]
async fn a_validator_checks_every_tee_claims_attestation_and_its_binding() {
    use veritas_verifier::tee::{Attestation, TeeEvidence};
    let home = tempfile::tempdir().unwrap();
    let node = node_with(home.path(), |config| {
        config.tee = Some(veritas_node::TeeBackend::Simulated);
        config.tee_policy = veritas_node::TeePolicy::simulated_only();
    })
    .await;
    let request = InferRequest {
        model: "iris".into(),
        input: json!({"float_input": [[5.1, 3.5, 1.4, 0.2]]}),
        mode: Some(veritas_primitives::Mode::Tee),
        request_id: None,
        nonce: Some("c0ffee".into()),
        sealed: None,
    };
    let honest = node.infer(request, None).await.unwrap().receipt;
    let evidence = TeeEvidence::from_evidence(&honest.evidence[0]).unwrap().unwrap();
    assert_eq!(evidence.nonce, [0xc0, 0xff, 0xee]);
    assert!(matches!(evidence.attestation, Attestation::Simulated { .. }));

    // The same attestation presented with another nonce no longer binds, and a copy without
    // its evidence proves nothing: neither earns the claim a verdict, either way.
    let mut renonced = honest.clone();
    renonced.evidence = vec![TeeEvidence { nonce: b"other".to_vec(), ..evidence.clone() }.to_evidence()];
    let err = node.validator().unwrap().judge(&renonced, None).await.unwrap_err().to_string();
    assert!(err.contains("no verdict") && err.contains("tee binding"), "{err}");
    let mut bare = honest.clone();
    bare.evidence.clear();
    let err = node.validator().unwrap().judge(&bare, None).await.unwrap_err().to_string();
    assert!(err.contains("no verdict") && err.contains("without TEE evidence"), "{err}");

    let judgement = node.validator().unwrap().judge(&honest, None).await.unwrap();
    assert!(judgement.valid, "{}", judgement.reason);
    assert_eq!(judgement.check, veritas_node::wire::CheckMode::Tee);
    assert!(judgement.reason.contains("UNTRUSTED / SIMULATED"), "{}", judgement.reason);
    // A bad nonce is refused before anything runs, naming it.
    let request = InferRequest {
        model: "iris".into(),
        input: json!({"float_input": [[5.1, 3.5, 1.4, 0.2]]}),
        mode: Some(veritas_primitives::Mode::Tee),
        request_id: None,
        nonce: Some("ab".repeat(65)),
        sealed: None,
    };
    let err = node.infer(request, None).await.unwrap_err().to_string();
    assert!(err.contains("nonce") && err.contains("at most 64"), "{err}");
}
