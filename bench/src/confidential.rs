//! `veritas-bench confidential [ITERATIONS]`: what a confidential request costs next to the same
//! `tee` request in the clear, on one node with the simulated enclave (so that the figures are
//! the protocol's, not a vendor's attestation latency): the key offer (made and checked), the
//! sealing and opening of a request, a sealed chunk, and per ONNX model the client's whole
//! confidential round (seal, infer, open, check the commitments) against a plain `tee` infer.

use serde_json::Value;
use veritas_node::{
    ChainConfig, Node, NodeConfig, PushRequest,
    wire::{ConfidentialInput, InferRequest, SealedRequest},
};
use veritas_primitives::{Mode, Values};
use veritas_verifier::{
    confidential::{EnclaveKey, check_key_offer, check_opening, seal_request},
    tee::{Policy, TeeEvidence},
};

use crate::{MODELS, root, time_us, time_us_async};

#[tokio::main]
pub async fn run(mut args: impl Iterator<Item = String>) {
    let iterations: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(300);
    let ort = std::env::var("ORT_DYLIB_PATH").expect("ORT_DYLIB_PATH: run `cargo xtask setup` to get one");
    let home = tempfile::tempdir().unwrap();
    let mut config = NodeConfig::new(home.path().to_owned(), ort.into());
    config.threads = Some(1);
    config.chain = ChainConfig::Embedded { block_time: None };
    config.tee = Some(veritas_node::TeeBackend::Simulated);
    config.tee_policy = veritas_node::TeePolicy::simulated_only();
    let node = Node::open(&config).await.unwrap();
    let policy = Policy::simulated_only();
    println!("{iterations} iterations per figure, 1 intra-op thread, simulated enclave; µs, median (p90)\n");

    // The pieces: the key offer (the node attests, the client checks), sealing and opening.
    let nonce = [7u8; 32];
    let (offer, offer_p90) = time_us_async(iterations, || {
        let node = node.clone();
        async move {
            let offer = node.key_offer(&veritas_primitives::hex::encode(nonce)).await.unwrap();
            let evidence = TeeEvidence::from_evidence(&offer.evidence).unwrap().unwrap();
            check_key_offer(
                &offer.key_config,
                &evidence.attestation,
                &evidence.nonce,
                &nonce,
                &Policy::simulated_only(),
                0,
            )
            .unwrap();
        }
    })
    .await;
    let key = EnclaveKey::from_seed(0, &[3; 32]);
    let request = vec![b'x'; 1024];
    let (seal, seal_p90) = time_us(iterations, || {
        seal_request(&key.config(), &request, [9; 32]).unwrap();
    });
    let (sealed, _) = seal_request(&key.config(), &request, [9; 32]).unwrap();
    let (open, open_p90) = time_us(iterations, || {
        key.open(&sealed).unwrap();
    });
    let (_, exchange) = key.open(&sealed).unwrap();
    let chunks = exchange.answer(&[1; 32]);
    let (chunk, chunk_p90) = time_us(iterations * 10, || {
        chunks.seal(1, b" word", false);
    });
    println!("| step | µs |");
    println!("|---|---|");
    println!("| key offer: attest (simulated) and check | {offer:.0} ({offer_p90:.0}) |");
    println!("| seal a 1 KiB request (client) | {seal:.0} ({seal_p90:.0}) |");
    println!("| open it (enclave) | {open:.0} ({open_p90:.0}) |");
    println!("| seal one streamed piece | {chunk:.1} ({chunk_p90:.1}) |");

    // Per model: a plain tee request against the client's whole confidential round.
    println!("\n| model | tee, in the clear | confidential: seal, infer, open, check | ratio |");
    println!("|---|---|---|---|");
    let examples = root().join("examples/models");
    let offer = node.key_offer(&veritas_primitives::hex::encode(nonce)).await.unwrap();
    let evidence = TeeEvidence::from_evidence(&offer.evidence).unwrap().unwrap();
    let (_, config) =
        check_key_offer(&offer.key_config, &evidence.attestation, &evidence.nonce, &nonce, &policy, 0).unwrap();
    for name in MODELS {
        let staged = node.core().stager().stage_file(&examples.join(format!("{name}.onnx"))).await.unwrap();
        let version = node
            .core()
            .push_model(PushRequest { name: name.into(), staged, format: veritas_node::ModelFormat::Onnx })
            .await
            .unwrap();
        let input: Value =
            serde_json::from_str(&std::fs::read_to_string(examples.join(format!("{name}.input.json"))).unwrap())
                .unwrap();
        let plain = InferRequest {
            model: name.into(),
            input: input.clone(),
            mode: Some(Mode::Tee),
            request_id: None,
            nonce: Some("00".repeat(32)),
            sealed: None,
        };
        let (clear, clear_p90) = time_us_async(iterations, || {
            let (node, plain) = (node.clone(), plain.clone());
            async move {
                node.infer(plain, None).await.unwrap();
            }
        })
        .await;
        let model_id = version.version.id.to_string();
        let (sealed, sealed_p90) = time_us_async(iterations, || {
            let (node, input, model_id) = (node.clone(), input.clone(), model_id.clone());
            let worker = offer.worker;
            async move {
                let plaintext = serde_json::to_vec(&ConfidentialInput { model: model_id, input, time: now() }).unwrap();
                let (request, exchange) = seal_request(&config, &plaintext, rand_seed()).unwrap();
                let request = InferRequest {
                    model: name.into(),
                    input: Value::Null,
                    mode: Some(Mode::Tee),
                    request_id: None,
                    nonce: None,
                    sealed: Some(SealedRequest { worker, request: request.into() }),
                };
                let answer = node.infer(request, None).await.unwrap();
                let last = answer.sealed.unwrap();
                let response_nonce: [u8; 32] = last.response_nonce.as_ref().try_into().unwrap();
                let opened = exchange.answer(&response_nonce).open(last.index, &last.last, true).unwrap();
                let opening: Value = serde_json::from_slice(&opened).unwrap();
                let values = |key: &str| serde_json::from_value::<Values>(opening[key].clone()).unwrap();
                check_opening(&answer.receipt.claim, exchange.salt(), &values("input"), &values("output")).unwrap();
            }
        })
        .await;
        println!("| {name} | {clear:.0} ({clear_p90:.0}) | {sealed:.0} ({sealed_p90:.0}) | {:.2} |", sealed / clear);
    }
}

/// The time a client seals at (Unix seconds).
fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A fresh seed for each sealed request, as a client draws one.
fn rand_seed() -> [u8; 32] {
    veritas_primitives::B256::random().0
}
