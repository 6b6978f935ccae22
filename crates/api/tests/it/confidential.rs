//! Confidential requests on a standalone node with the simulated enclave: the key offer holds
//! for the nonce sent, a sealed inference is opened in the enclave and answered sealed, its
//! receipt holds commitments that the client's opening matches and a validator judges it by the
//! attestation; what a gateway could send in its place (a flipped byte, another model, inputs
//! that do not fit, what is not JSON) is refused with errors that quote nothing of the plaintext.

use serde_json::json;
use veritas_node::{
    Node,
    wire::{ConfidentialInput, InferRequest, SealedRequest},
};
use veritas_primitives::{Mode, Values};
use veritas_verifier::{
    Expectations,
    confidential::{Exchange, check_key_offer, check_opening, seal_request},
    tee::{Policy, TeeEvidence},
    verify_receipt,
};

const MARKER: &str = "heron-saffron-5023";

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

async fn enclave_node(home: &std::path::Path) -> Node {
    crate::verdicts::node_with(home, |config| {
        config.tee = Some(veritas_node::TeeBackend::Simulated);
        config.tee_policy = veritas_node::TeePolicy::simulated_only();
    })
    .await
}

/// The node's key offer, checked as a client checks it.
async fn key(node: &Node) -> (veritas_primitives::Address, veritas_verifier::confidential::KeyConfig) {
    let nonce = [7u8; 32];
    let offer = node.key_offer(&veritas_primitives::hex::encode(nonce)).await.unwrap();
    let evidence = TeeEvidence::from_evidence(&offer.evidence).unwrap().unwrap();
    let (report, config) = check_key_offer(
        &offer.key_config,
        &evidence.attestation,
        &evidence.nonce,
        &nonce,
        &Policy::simulated_only(),
        0,
    )
    .unwrap();
    assert!(report.insecure);
    (offer.worker, config)
}

fn sealed(worker: veritas_primitives::Address, request: Vec<u8>, model: &str) -> InferRequest {
    InferRequest {
        model: model.into(),
        input: serde_json::Value::Null,
        mode: Some(Mode::Tee),
        request_id: None,
        nonce: None,
        sealed: Some(SealedRequest { worker, request: request.into() }),
    }
}

async fn seal(node: &Node, plaintext: &[u8]) -> (veritas_primitives::Address, Vec<u8>, Exchange) {
    let (worker, config) = key(node).await;
    let (request, exchange) = seal_request(&config, plaintext, [5; 32]).unwrap();
    (worker, request, exchange)
}

#[tokio::test]
async fn a_sealed_inference_is_answered_sealed_with_a_receipt_of_commitments() {
    let home = tempfile::tempdir().unwrap();
    let node = enclave_node(home.path()).await;
    let model = node.core().resolve_model("iris").await.unwrap().id;
    let input = json!({"float_input": [[5.1, 3.5, 1.4, 0.2]]});
    let plaintext = serde_json::to_vec(&ConfidentialInput { model: model.to_string(), input, time: now() }).unwrap();
    let (worker, request, exchange) = seal(&node, &plaintext).await;
    let answer = node.infer(sealed(worker, request.clone(), "iris"), None).await.unwrap();

    assert!(answer.output.is_empty(), "nothing of the output in the clear");
    let receipt = &answer.receipt;
    assert!(receipt.body.input.is_none() && receipt.body.output.is_none());
    let report =
        verify_receipt(receipt, &Expectations { tee_policy: Policy::simulated_only().into(), ..Default::default() })
            .unwrap();
    assert!(report.confidential && report.mode == Mode::Tee);
    assert_eq!(report.tee_nonce.unwrap(), veritas_verifier::confidential::request_nonce(&request));

    let last = answer.sealed.unwrap();
    let nonce: [u8; 32] = last.response_nonce.as_ref().try_into().unwrap();
    let opened = exchange.answer(&nonce).open(last.index, &last.last, true).unwrap();
    let opening: serde_json::Value = serde_json::from_slice(&opened).unwrap();
    let (input, output): (Values, Values) = (
        serde_json::from_value(opening["input"].clone()).unwrap(),
        serde_json::from_value(opening["output"].clone()).unwrap(),
    );
    check_opening(&receipt.claim, exchange.salt(), &input, &output).unwrap();
    assert!(output.contains_key("output_label"));
    // Another salt does not open the commitments.
    assert!(check_opening(&receipt.claim, &[0; 32], &input, &output).is_err());

    let judgement = node.validator().unwrap().judge(receipt, None).await.unwrap();
    assert!(judgement.valid && judgement.check == veritas_node::wire::CheckMode::Tee, "{}", judgement.reason);

    // The same sealed request again (a captured copy): refused, nothing run or charged.
    let replay = node.infer(sealed(worker, request, "iris"), None).await.unwrap_err().to_string();
    assert!(replay.contains("served already"), "{replay}");
    // One sealed long ago (or far ahead of the enclave's clock): refused.
    let input = json!({"float_input": [[5.1, 3.5, 1.4, 0.2]]});
    let stale = ConfidentialInput { model: model.to_string(), input, time: now() - 3600 };
    let (worker, request, _) = seal(&node, &serde_json::to_vec(&stale).unwrap()).await;
    let err = node.infer(sealed(worker, request, "iris"), None).await.unwrap_err().to_string();
    assert!(err.contains("from this enclave's clock"), "{err}");
}

#[tokio::test]
async fn what_a_gateway_could_send_instead_is_refused_without_quoting_the_plaintext() {
    let home = tempfile::tempdir().unwrap();
    let node = enclave_node(home.path()).await;
    let model = node.core().resolve_model("iris").await.unwrap().id.to_string();
    let refused = |err: veritas_node::NodeError, expected: &str| {
        let text = err.to_string();
        assert!(text.contains(expected), "{text}");
        assert!(!text.contains(MARKER), "the error quotes the plaintext: {text}");
    };

    // A flipped byte does not open.
    let input = json!({"float_input": [[5.1, 3.5, 1.4, 0.2]]});
    let plaintext = serde_json::to_vec(&ConfidentialInput { model: model.clone(), input, time: now() }).unwrap();
    let (worker, mut request, _) = seal(&node, &plaintext).await;
    let last = request.len() - 1;
    request[last] ^= 1;
    refused(node.infer(sealed(worker, request, "iris"), None).await.unwrap_err(), "does not open");

    // Another model than the one it names.
    let other = ConfidentialInput { model: format!("{MARKER}-model"), input: json!({}), time: now() };
    let (worker, request, _) = seal(&node, &serde_json::to_vec(&other).unwrap()).await;
    refused(node.infer(sealed(worker, request, "iris"), None).await.unwrap_err(), "another model");

    // Inputs that do not fit the schema: an input named after the secret.
    let misfit = ConfidentialInput { model: model.clone(), input: json!({ MARKER: [[1.0]] }), time: now() };
    let (worker, request, _) = seal(&node, &serde_json::to_vec(&misfit).unwrap()).await;
    refused(node.infer(sealed(worker, request, "iris"), None).await.unwrap_err(), "do not fit");

    // Not JSON, or the secret as a field serde would name in its error.
    let (worker, request, _) = seal(&node, format!("{{\"model\": {MARKER}").as_bytes()).await;
    refused(node.infer(sealed(worker, request, "iris"), None).await.unwrap_err(), "not a confidential input");
    let (worker, request, _) = seal(
        &node,
        format!("{{\"model\": \"{model}\", \"input\": 1, \"time\": {}, \"{MARKER}\": 2}}", now()).as_bytes(),
    )
    .await;
    refused(node.infer(sealed(worker, request, "iris"), None).await.unwrap_err(), "not a confidential input");

    // Sealed to another node's key, and inputs in the clear beside the sealed ones.
    let (_, request, _) = seal(&node, &plaintext).await;
    let stranger = veritas_primitives::Address::repeat_byte(9);
    refused(node.infer(sealed(stranger, request.clone(), "iris"), None).await.unwrap_err(), "sealed to inference node");
    let (worker, _, _) = seal(&node, &plaintext).await;
    let mut both = sealed(worker, request, "iris");
    both.input = json!({"float_input": [[5.1, 3.5, 1.4, 0.2]]});
    refused(node.infer(both, None).await.unwrap_err(), "`input` must be null");

    // A node in no enclave has no key to offer.
    let plain_home = tempfile::tempdir().unwrap();
    let plain = crate::verdicts::node_with(plain_home.path(), |_| {}).await;
    refused(plain.key_offer("00").await.unwrap_err(), "runs in no enclave");
}
