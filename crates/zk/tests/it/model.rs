//! Proofs of the example MNIST networks: honest proofs verify, and every way a prover can lie
//! about the statement, the trace or the messages is rejected.

use std::path::PathBuf;

use p3_field::PrimeCharacteristicRing;
use serde_json::Value;
use veritas_quant::quantized::accumulate;
use veritas_quant::{QuantOp, QuantizedModel};
use veritas_quantize::quantize;
use veritas_zk::model::{ModelProof, ProvingKey, prove, prove_witness, verify};
use veritas_zk::pcs::PcsParams;
use veritas_zk::{EF, ZkError};

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/models")
}

fn flatten(value: &Value, out: &mut Vec<f32>) {
    match value {
        Value::Array(items) => items.iter().for_each(|v| flatten(v, out)),
        Value::Number(n) => out.push(n.as_f64().expect("number") as f32),
        other => panic!("unexpected {other}"),
    }
}

/// The example model quantized, calibrated on its example input, and that input quantized.
pub(crate) fn example(name: &str) -> (QuantizedModel, Vec<i8>) {
    let bytes = std::fs::read(examples().join(format!("{name}.onnx"))).expect("example model");
    let text = std::fs::read_to_string(examples().join(format!("{name}.input.json"))).expect("input");
    let value: Value = serde_json::from_str(&text).expect("json");
    let mut sample = vec![];
    flatten(value.as_object().expect("object").values().next().expect("entry"), &mut sample);
    let model = quantize(&bytes, std::slice::from_ref(&sample)).expect("quantizes");
    let input = model.quantize_input(&sample);
    (model, input)
}

fn key(model: &QuantizedModel) -> ProvingKey {
    ProvingKey::new(model, PcsParams::DEFAULT).expect("commits")
}

#[test]
fn honest_proofs_verify_and_prove_the_executor_output() {
    for name in ["mnist-mlp", "mnist-cnn"] {
        let (model, input) = example(name);
        let key = key(&model);
        let (output, proof) = prove(&key, &input).expect("proves");
        assert_eq!(output, model.run(&input).unwrap(), "{name}");
        assert_eq!(verify(key.verifying_key(), &input, &output, &proof), Ok(()), "{name}");
    }
}

/// The benchmark's residual CNN (bench/zk/make_models.py): batch normalisation folded into the
/// convolutions, two skip connections (`Add` of a block's input), pooling, then a linear layer.
#[test]
fn a_residual_cnn_with_batch_normalisation_is_proven() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../bench/zk/models");
    let bytes = std::fs::read(dir.join("resnet-small.onnx")).expect("bench model");
    let value: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("resnet-small.input.json")).unwrap()).unwrap();
    let mut sample = vec![];
    flatten(&value["input_data"], &mut sample);
    let model = quantize(&bytes, std::slice::from_ref(&sample)).expect("quantizes");
    let adds = model.layers.iter().filter(|l| matches!(l.op, QuantOp::Add { .. })).count();
    let convs = model.layers.iter().filter(|l| matches!(l.op, QuantOp::Conv { .. })).count();
    assert_eq!((adds, convs), (2, 5), "every BatchNormalization folded, both skips kept");
    let input = model.quantize_input(&sample);
    let key = key(&model);
    let (output, proof) = prove(&key, &input).expect("proves");
    assert_eq!(output, model.run(&input).unwrap());
    assert_eq!(verify(key.verifying_key(), &input, &output, &proof), Ok(()));
    let mut other = output.clone();
    other[3] = other[3].wrapping_add(1);
    assert!(verify(key.verifying_key(), &input, &other, &proof).is_err());
}

#[test]
fn small_tables_have_public_multiplicities() {
    let (model, input) = example("mnist-mlp");
    let (_, proof) = prove(&key(&model), &input).unwrap();
    assert_eq!(proof.multiplicities.len(), 256);
    assert_eq!(proof.multiplicities.iter().map(|&c| c as usize).sum::<usize>(), 1 << 10);
    // Committed multiplicities: `soundness.rs`, `large_tables_commit_their_multiplicities`.
}

#[test]
fn model_proofs_keep_100_bits_over_both_openings() {
    for name in ["mnist-mlp", "mnist-cnn"] {
        let (model, _) = example(name);
        let vk = key(&model).verifying_key().clone();
        let bits = vk.security_bits();
        let one_opening = PcsParams::DEFAULT.security_bits_at(vk.commitment.log_len);
        assert!(bits >= 100.0 && bits < one_opening, "{name}: {bits} of {one_opening}");
    }
}

#[test]
fn the_statement_is_bound() {
    let (model, input) = example("mnist-mlp");
    let key = key(&model);
    let (output, proof) = prove(&key, &input).unwrap();
    let vk = key.verifying_key();
    // Another output or input with the same proof.
    let mut other = output.clone();
    other[0] = other[0].wrapping_add(1);
    assert!(verify(vk, &input, &other, &proof).is_err());
    let mut other_input = input.clone();
    other_input[300] = other_input[300].wrapping_add(1);
    assert!(verify(vk, &other_input, &output, &proof).is_err());
    // Another model (one weight changed): its commitment differs and the proof fails against it.
    let mut changed = model.clone();
    if let QuantOp::Linear { weights, .. } = &mut changed.layers[0].op {
        weights[5] = weights[5].wrapping_add(1);
    }
    let other_key = self::key(&changed);
    assert_ne!(other_key.verifying_key().commitment, vk.commitment);
    assert!(verify(other_key.verifying_key(), &input, &output, &proof).is_err());
    // Another architecture (a requantization constant changed) with the same commitment.
    let mut architecture = vk.clone();
    if let QuantOp::Linear { requant, .. } = &mut architecture.architecture.layers[0].op {
        requant.multiplier += 1;
    }
    assert!(verify(&architecture, &input, &output, &proof).is_err());
}

/// A trace that is self-consistent except at layer 0's first output: its accumulator is off by
/// `acc_delta` and its output value (the accumulator requantized) then off by `out_delta`;
/// everything after is what the executor computes from the changed values. Returns the
/// claimed output, every `Linear`/`Conv` output and every accumulator vector.
fn forged_trace(model: &QuantizedModel, input: &[i8], acc_delta: i64, out_delta: i8) -> Forged {
    let mut tensors = vec![input.to_vec()];
    let (mut activations, mut accumulators) = (vec![], vec![]);
    for (index, layer) in model.layers.iter().enumerate() {
        let out_len = layer.shape.iter().product();
        let out = match (&layer.op, accumulate(&layer.op, &tensors, out_len)) {
            (QuantOp::Linear { requant, relu, .. } | QuantOp::Conv { requant, relu, .. }, Some(mut acc)) => {
                if index == 0 {
                    acc[0] += acc_delta;
                }
                let mut out: Vec<i8> = acc.iter().map(|&a| requant.apply(a, *relu)).collect();
                if index == 0 {
                    out[0] = out[0].wrapping_add(out_delta);
                }
                accumulators.push(acc);
                activations.push(out.clone());
                out
            }
            (op, _) => veritas_quant::quantized::run_layer(op, &tensors, out_len),
        };
        tensors.push(out);
    }
    (tensors.swap_remove(model.output), activations, accumulators)
}

type Forged = (Vec<i8>, Vec<Vec<i8>>, Vec<Vec<i64>>);

#[test]
fn a_false_product_is_rejected() {
    for name in ["mnist-mlp", "mnist-cnn"] {
        let (model, input) = example(name);
        let key = key(&model);
        // Large enough to change the requantized value; the forged output is what it leads to.
        let (output, activations, accumulators) = forged_trace(&model, &input, 1 << 20, 0);
        let proof = prove_witness(&key, &input, &output, activations, &accumulators).unwrap();
        assert!(
            matches!(verify(key.verifying_key(), &input, &output, &proof), Err(ZkError::RoundSum { round: 0 })),
            "{name}"
        );
    }
}

#[test]
fn an_output_its_accumulator_does_not_requantize_to_is_rejected() {
    // The true accumulator, an output one off: the distances to the output's thresholds are
    // committed modulo p, so they recompose from their limbs but a limb is out of range.
    for name in ["mnist-mlp", "mnist-cnn"] {
        let (model, input) = example(name);
        let key = key(&model);
        for delta in [1, -1] {
            let (output, activations, accumulators) = forged_trace(&model, &input, 0, delta);
            let proof = prove_witness(&key, &input, &output, activations, &accumulators).unwrap();
            assert_eq!(
                verify(key.verifying_key(), &input, &output, &proof),
                Err(ZkError::Lookup("the root numerator is not zero (a value outside the table)")),
                "{name}, {delta}"
            );
        }
    }
}

#[test]
fn an_output_other_than_the_traces_is_rejected() {
    // Every tensor but the Linear/Conv outputs, pooling and ReLU included, is derived from them,
    // and the claimed output must be the last.
    let (model, input) = example("mnist-cnn");
    let key = key(&model);
    let (output, proof) = prove(&key, &input).unwrap();
    assert_eq!(veritas_zk::model::verify_output(key.verifying_key(), &input, &proof), Ok(output.clone()));
    let mut other = output.clone();
    other[3] = other[3].wrapping_sub(1);
    assert_eq!(verify(key.verifying_key(), &input, &other, &proof), Err(ZkError::Output));
}

/// Every message of the proof, changed one at a time.
fn mutations(proof: &ModelProof) -> Vec<(String, ModelProof)> {
    let mut out = vec![];
    let mut push = |what: String, f: &dyn Fn(&mut ModelProof)| {
        let mut changed = proof.clone();
        f(&mut changed);
        out.push((what, changed));
    };
    for (l, layer) in proof.layers.iter().enumerate() {
        for b in 0..layer.bias_evals.len() {
            push(format!("layer {l} bias block {b}"), &|p| p.layers[l].bias_evals[b] += EF::ONE);
        }
        for b in 0..layer.weights_evals.len() {
            push(format!("layer {l} weight block {b}"), &|p| p.layers[l].weights_evals[b] += EF::ONE);
        }
        for (r, round) in layer.sumcheck.rounds.iter().enumerate() {
            for v in 0..round.len() {
                push(format!("layer {l} round {r} value {v}"), &|p| p.layers[l].sumcheck.rounds[r][v] += EF::ONE);
            }
        }
        push(format!("layer {l} one round fewer"), &|p| {
            p.layers[l].sumcheck.rounds.pop();
        });
        for j in 0..layer.limb_evals.len() {
            push(format!("layer {l} limb {j}"), &|p| p.layers[l].limb_evals[j] += EF::ONE);
        }
    }
    type Batch = fn(&mut ModelProof) -> &mut veritas_zk::model::batch::BatchProof;
    let batches: [(&str, Batch); 2] = [("witness", |p| &mut p.witness_batch), ("model", |p| &mut p.model_batch)];
    for (name, batch) in batches {
        let rounds = batch(&mut proof.clone()).sumcheck.rounds.clone();
        for (r, round) in rounds.iter().enumerate() {
            for v in 0..round.len() {
                push(format!("{name} batch round {r} value {v}"), &|p| batch(p).sumcheck.rounds[r][v] += EF::ONE);
            }
        }
        push(format!("{name} evaluation"), &|p| batch(p).eval += EF::ONE);
    }
    push("lookup root denominator".into(), &|p| p.lookup.root_q += EF::ONE);
    push("lookup f".into(), &|p| p.lookup.f_eval += EF::ONE);
    push("lookup m".into(), &|p| p.lookup.m_eval += EF::ONE);
    for (g, layer) in proof.lookup.layers.iter().enumerate() {
        for c in 0..4 {
            push(format!("gkr layer {g} child {c}"), &|p| p.lookup.layers[g].children[c] += EF::ONE);
        }
        for (r, round) in layer.sumcheck.rounds.iter().enumerate() {
            for v in 0..round.len() {
                push(format!("gkr layer {g} round {r} value {v}"), &|p| {
                    p.lookup.layers[g].sumcheck.rounds[r][v] += EF::ONE
                });
            }
        }
    }
    for c in 0..proof.multiplicities.len() {
        push(format!("multiplicity {c}"), &|p| p.multiplicities[c] += 1);
    }
    push("a layer output".into(), &|p| p.activations[0][0] = p.activations[0][0].wrapping_add(1));
    push("the witness prefix".into(), &|p| p.witness.len -= 1);
    push("the witness root".into(), &|p| p.witness.root[0] += veritas_zk::F::ONE);
    out
}

#[test]
fn every_changed_message_is_rejected() {
    let (model, input) = example("mnist-mlp");
    let key = key(&model);
    let (output, proof) = prove(&key, &input).unwrap();
    let mutated = mutations(&proof);
    assert!(mutated.len() > 50);
    for (what, changed) in mutated {
        assert!(verify(key.verifying_key(), &input, &output, &changed).is_err(), "{what} accepted");
    }
}

#[test]
fn encodings_round_trip_and_every_sampled_bit_flip_is_rejected() {
    use veritas_zk::model::VerifyingKey;
    let (model, input) = example("mnist-mlp");
    let key = key(&model);
    let vk = key.verifying_key();
    let vk_bytes = vk.to_bytes();
    assert_eq!(&VerifyingKey::from_bytes(&vk_bytes).unwrap(), vk);
    let mut longer = vk_bytes.clone();
    longer.push(0);
    assert!(VerifyingKey::from_bytes(&longer).is_err());
    assert!(VerifyingKey::from_bytes(&vk_bytes[..vk_bytes.len() - 1]).is_err());
    // A key that carries the weights is refused: an architecture has none.
    let mut with_weights = vk.clone();
    with_weights.architecture = model.clone();
    assert!(VerifyingKey::from_bytes(&with_weights.to_bytes()).is_err());

    let (output, proof) = prove(&key, &input).unwrap();
    let bytes = proof.to_bytes();
    let decoded = ModelProof::from_bytes(&bytes, vk).unwrap();
    assert_eq!(decoded, proof);
    assert!(ModelProof::from_bytes(&bytes[..bytes.len() - 1], vk).is_err());
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(ModelProof::from_bytes(&longer, vk).is_err());
    // 400 positions spread over the whole proof, one bit each: every one rejected, by decoding
    // (a non-canonical element) or by verification.
    let stride = bytes.len() / 400;
    for position in (0..bytes.len()).step_by(stride.max(1)) {
        let mut flipped = bytes.clone();
        flipped[position] ^= 1 << (position % 8);
        let accepted = ModelProof::from_bytes(&flipped, vk).is_ok_and(|p| verify(vk, &input, &output, &p).is_ok());
        assert!(!accepted, "bit flip at byte {position} of {} accepted", bytes.len());
    }
}
