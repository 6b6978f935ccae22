//! Soundness of model proofs, one test (or more) per known pitfall (docs/zk.md, "Soundness
//! tests"): differential tests against the integer executor on random networks and inputs,
//! forged traces, round shapes and degrees, wrapped accumulators, parameters outside the
//! statement, and a golden proof kept byte for byte.

use std::path::PathBuf;

use p3_field::PrimeCharacteristicRing;
use proptest::prelude::*;
use veritas_quant::geometry::{Conv2d, Pool2d};
use veritas_quant::quantized::{accumulate, run_layer};
use veritas_quant::{QuantLayer, QuantOp, QuantizedModel, Requant};
use veritas_zk::model::{Bounds, ModelProof, ProvingKey, VerifyingKey, prove, prove_witness};
use veritas_zk::pcs::PcsParams;
use veritas_zk::{EF, ZkError, ZkResult};

/// Few queries keep the random cases fast; what these tests break is caught before the
/// commitment's queries (and `tests/it/pcs.rs` covers those).
const FAST: PcsParams = PcsParams { log_blowup: 1, num_queries: 4, pow_bits: 0 };

/// `model::verify` with no least soundness: `FAST` has under 1 bit, which a verifier refuses
/// (`tests/it/bounds.rs`); the work budget is kept.
fn verify(key: &VerifyingKey, input: &[i8], output: &[i8], proof: &ModelProof) -> ZkResult<()> {
    key.bounded(&Bounds { min_security_bits: 0, ..Bounds::DEFAULT })?.verify(input, output, proof)
}

fn requant(shift: u32) -> Requant {
    Requant { multiplier: 3 << 29, shift }
}

/// Conv (ReLU) → optional pool → optional Add of the conv output and its ReLU → Linear → Linear.
#[allow(clippy::too_many_arguments)]
fn network(
    (c, h, w): (usize, usize, usize),
    (oc, k, stride, pad): (usize, usize, usize, usize),
    pool: u8,
    add: bool,
    hidden: usize,
    classes: usize,
    weights: &[i8],
    shift: u32,
) -> QuantizedModel {
    let mut taken = 0usize;
    let mut take = |n: usize| -> Vec<i8> {
        let out = (0..n).map(|i| weights[(taken + i) % weights.len()]).collect();
        taken += n;
        out
    };
    let geometry = Conv2d {
        in_channels: c,
        in_height: h,
        in_width: w,
        out_channels: oc,
        kernel: [k, k],
        stride: [stride, stride],
        pads: [pad; 4],
    };
    let [_, oh, ow] = geometry.out_shape().expect("a valid geometry");
    let mut layers = vec![QuantLayer {
        op: QuantOp::Conv {
            input: 0,
            weights: take(geometry.weight_count()),
            bias: (0..oc).map(|i| i as i32 * 37 - 50).collect(),
            requant: requant(shift),
            relu: true,
            geometry,
        },
        shape: vec![oc, oh, ow],
        scale: 0.1,
    }];
    let mut shape = vec![oc, oh, ow];
    if pool > 0 && oh >= 2 && ow >= 2 {
        let geometry =
            Pool2d { channels: oc, in_height: oh, in_width: ow, kernel: [2, 2], stride: [2, 2], pads: [0; 4] };
        let out = geometry.out_shape().expect("a valid pool").to_vec();
        let op = if pool == 1 {
            QuantOp::MaxPool { input: layers.len(), geometry }
        } else {
            QuantOp::AvgPool { input: layers.len(), geometry, requant: requant(31) }
        };
        layers.push(QuantLayer { op, shape: out.clone(), scale: 0.1 });
        shape = out;
    }
    if add {
        let last = layers.len();
        layers.push(QuantLayer { op: QuantOp::Relu { input: last }, shape: shape.clone(), scale: 0.1 });
        let op =
            QuantOp::Add { a: last, b: last + 1, multiplier_a: 1 << 30, multiplier_b: 3 << 29, shift: 31, relu: false };
        layers.push(QuantLayer { op, shape: shape.clone(), scale: 0.1 });
    }
    let flat: usize = shape.iter().product();
    for (in_features, out_features, relu) in [(flat, hidden, true), (hidden, classes, false)] {
        let op = QuantOp::Linear {
            input: layers.len(),
            in_features,
            out_features,
            weights: take(in_features * out_features),
            bias: (0..out_features).map(|i| 100 - i as i32 * 41).collect(),
            requant: requant(shift),
            relu,
        };
        layers.push(QuantLayer { op, shape: vec![out_features], scale: 0.1 });
    }
    let output = layers.len();
    QuantizedModel { input_name: "input".into(), input_shape: vec![c, h, w], input_scale: 0.05, layers, output }
}

/// The honest trace with one accumulator of `layer` changed by `acc_delta` and its output (the
/// changed accumulator requantized) then by `out_delta`; every later tensor is what the executor
/// computes from the changed one. Returns the claimed output, every `Linear`/`Conv` output and
/// accumulator vector: what a prover that commits to them sends.
fn forge(model: &QuantizedModel, input: &[i8], layer: usize, index: usize, acc_delta: i64, out_delta: i8) -> Forged {
    let mut tensors = vec![input.to_vec()];
    let (mut activations, mut accumulators) = (vec![], vec![]);
    for (l, quant_layer) in model.layers.iter().enumerate() {
        let out_len = quant_layer.shape.iter().product();
        let out = match (&quant_layer.op, accumulate(&quant_layer.op, &tensors, out_len)) {
            (QuantOp::Linear { requant, relu, .. } | QuantOp::Conv { requant, relu, .. }, Some(mut acc)) => {
                let at = index % acc.len();
                if l == layer {
                    acc[at] += acc_delta;
                }
                let mut out: Vec<i8> = acc.iter().map(|&a| requant.apply(a, *relu)).collect();
                if l == layer {
                    out[at] = out[at].wrapping_add(out_delta);
                }
                accumulators.push(acc);
                activations.push(out.clone());
                out
            }
            (op, _) => run_layer(op, &tensors, out_len),
        };
        tensors.push(out);
    }
    (tensors.swap_remove(model.output), activations, accumulators)
}

type Forged = (Vec<i8>, Vec<Vec<i8>>, Vec<Vec<i64>>);

fn weighted_layers(model: &QuantizedModel) -> Vec<usize> {
    let weighted = |l: &QuantLayer| matches!(l.op, QuantOp::Linear { .. } | QuantOp::Conv { .. });
    model.layers.iter().enumerate().filter(|(_, l)| weighted(l)).map(|(i, _)| i).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Differential: on random networks and inputs, the proven output is the executor's, the
    /// proof verifies and survives its encoding; a trace with any one product false (the rest
    /// consistent with it) is rejected, and so is one with a true product whose output is not
    /// its requantization (an unconstrained remainder).
    #[test]
    fn random_networks_prove_the_executor_and_reject_one_false_product(
        (input_dims, conv) in (1usize..3, 4usize..8, 4usize..8).prop_flat_map(|dims| (
            Just(dims),
            (1usize..4, 1usize..4, 1usize..3).prop_flat_map(|(oc, k, stride)| (Just(oc), Just(k), Just(stride), 0..k)),
        )),
        pool in 0u8..3,
        add in any::<bool>(),
        (hidden, classes) in (1usize..12, 1usize..6),
        weights in proptest::collection::vec(any::<i8>(), 64),
        shift in 33u32..40,
        input_seed in proptest::collection::vec(any::<i8>(), 64),
        (forged_layer, forged_index, delta) in (any::<usize>(), any::<usize>(), prop_oneof![Just(1i64), Just(-1), Just(1 << 20), Just(1 << 32)]),
        out_delta in prop_oneof![Just(1i8), Just(-1), Just(64)],
    ) {
        let model = network(input_dims, conv, pool, add, hidden, classes, &weights, shift);
        prop_assume!(model.validate().is_ok());
        let input: Vec<i8> = (0..model.input_len()).map(|i| input_seed[i % input_seed.len()]).collect();
        let key = ProvingKey::new(&model, FAST).unwrap();
        let vk = key.verifying_key();
        let (output, proof) = prove(&key, &input).unwrap();
        prop_assert_eq!(&output, &model.run(&input).unwrap());
        prop_assert_eq!(verify(vk, &input, &output, &proof), Ok(()));
        let decoded = ModelProof::from_bytes(&proof.to_bytes(), vk).unwrap();
        prop_assert_eq!(verify(vk, &input, &output, &decoded), Ok(()));

        let weighted = weighted_layers(&model);
        let layer = weighted[forged_layer % weighted.len()];
        let (forged_output, activations, accumulators) = forge(&model, &input, layer, forged_index, delta, 0);
        let forged = prove_witness(&key, &input, &forged_output, activations, &accumulators).unwrap();
        prop_assert!(verify(vk, &input, &forged_output, &forged).is_err());
        let (forged_output, activations, accumulators) = forge(&model, &input, layer, forged_index, 0, out_delta);
        let forged = prove_witness(&key, &input, &forged_output, activations, &accumulators).unwrap();
        prop_assert_eq!(
            verify(vk, &input, &forged_output, &forged),
            Err(ZkError::Lookup("the root numerator is not zero (a value outside the table)"))
        );
    }
}

fn small() -> (QuantizedModel, Vec<i8>) {
    let weights: Vec<i8> = (0..64).map(|i| (i * 53 % 255 - 127) as i8).collect();
    let model = network((1, 6, 6), (2, 3, 1, 1), 1, true, 8, 3, &weights, 36);
    model.validate().unwrap();
    let input = (0..36).map(|i| (i * 29 % 255 - 127) as i8).collect();
    (model, input)
}

#[test]
fn a_wrapped_accumulator_is_rejected() {
    // The field (p ≈ 2^64) with the bound |Σ W·x + b| < 2^31 makes the proof's equation integer
    // equality: an accumulator congruent modulo 2^32 (i32's wrap-around) is another field
    // element, and the sumcheck's first round fails. And because the true accumulator lies in
    // [−2^31, 2^31), its distances to the thresholds fit 32 bits, so the range check cannot
    // wrap modulo p either (`witness`).
    let (model, input) = small();
    let key = ProvingKey::new(&model, FAST).unwrap();
    for delta in [1i64 << 32, -(1i64 << 32)] {
        let (output, activations, accumulators) = forge(&model, &input, 0, 0, delta, 0);
        let proof = prove_witness(&key, &input, &output, activations, &accumulators).unwrap();
        assert!(matches!(verify(key.verifying_key(), &input, &output, &proof), Err(ZkError::RoundSum { round: 0 })));
    }
}

#[test]
fn large_tables_commit_their_multiplicities() {
    // 16 × 32 × 32 conv outputs: 16-bit limbs, and the 2^16 multiplicities go into the witness.
    let weights: Vec<i8> = (0..64).map(|i| (i * 53 % 255 - 127) as i8).collect();
    let model = network((1, 34, 34), (16, 3, 1, 0), 1, false, 2, 2, &weights, 36);
    model.validate().unwrap();
    let input: Vec<i8> = (0..model.input_len()).map(|i| (i * 29 % 255) as i8).collect();
    let key = ProvingKey::new(&model, FAST).unwrap();
    let vk = key.verifying_key();
    let (output, proof) = prove(&key, &input).unwrap();
    assert!(proof.multiplicities.is_empty());
    assert_eq!(verify(vk, &input, &output, &proof), Ok(()));
    assert_eq!(verify(vk, &input, &output, &ModelProof::from_bytes(&proof.to_bytes(), vk).unwrap()), Ok(()));
    let mut other = proof.clone();
    other.lookup.m_eval += EF::ONE;
    assert!(verify(vk, &input, &output, &other).is_err());
    let (forged_output, activations, accumulators) = forge(&model, &input, 0, 5, 0, 1);
    let forged = prove_witness(&key, &input, &forged_output, activations, &accumulators).unwrap();
    assert_eq!(
        verify(vk, &input, &forged_output, &forged),
        Err(ZkError::Lookup("the root numerator is not zero (a value outside the table)"))
    );
}

#[test]
fn round_shapes_and_degrees_come_from_the_model() {
    let (model, input) = small();
    let key = ProvingKey::new(&model, FAST).unwrap();
    let vk = key.verifying_key();
    let (output, proof) = prove(&key, &input).unwrap();
    // A degree-3 round (four values) in place of a degree-2 one.
    let mut cubic = proof.clone();
    cubic.layers[0].sumcheck.rounds[0].push(EF::ONE);
    assert!(matches!(verify(vk, &input, &output, &cubic), Err(ZkError::Length { what: "sumcheck round values", .. })));
    // One round more or fewer than the model's dimensions give.
    let mut longer = proof.clone();
    longer.model_batch.sumcheck.rounds.push(vec![EF::ZERO; 3]);
    assert!(matches!(verify(vk, &input, &output, &longer), Err(ZkError::Length { what: "sumcheck rounds", .. })));
    let mut shorter = proof.clone();
    shorter.layers[1].sumcheck.rounds.pop();
    assert!(matches!(verify(vk, &input, &output, &shorter), Err(ZkError::Length { what: "sumcheck rounds", .. })));
    // A round whose values sum to the claim but are not the true polynomial: caught later.
    let mut shifted = proof.clone();
    let round = &mut shifted.layers[0].sumcheck.rounds[0];
    round[0] += EF::ONE;
    round[1] -= EF::ONE;
    assert!(verify(vk, &input, &output, &shifted).is_err());
    // A trace of another length than the architecture's.
    let mut extra = proof.clone();
    extra.activations[0].push(0);
    assert!(verify(vk, &input, &output, &extra).is_err());
}

#[test]
fn the_commitment_parameters_are_part_of_the_statement() {
    let (model, input) = small();
    let key = ProvingKey::new(&model, FAST).unwrap();
    let (output, proof) = prove(&key, &input).unwrap();
    let mut weaker = key.verifying_key().clone();
    weaker.params.num_queries -= 1;
    assert!(verify(&weaker, &input, &output, &proof).is_err());
    // The committed prefix follows from the architecture: a key claiming fewer values is refused.
    let mut shorter = key.verifying_key().clone();
    shorter.commitment.len -= 1;
    assert!(matches!(verify(&shorter, &input, &output, &proof), Err(ZkError::Length { .. })));
    assert!(VerifyingKey::from_bytes(&shorter.to_bytes()).is_err());
}

#[test]
fn the_claimed_output_is_the_proven_one() {
    // The claimed output must be where the proof's trace leads (its last layer's output, whose
    // requantization is range-checked): an output one off anywhere is refused.
    let (model, input) = small();
    let key = ProvingKey::new(&model, FAST).unwrap();
    let (output, proof) = prove(&key, &input).unwrap();
    for index in 0..output.len() {
        let mut other = output.clone();
        other[index] = other[index].wrapping_add(1);
        assert_eq!(verify(key.verifying_key(), &input, &other, &proof), Err(ZkError::Output));
    }
}

fn fixture_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/model-v3.bin")
}

/// The golden proof of the small network: the prover is deterministic, so any change to the
/// protocol's messages, transcript or encoding changes these bytes (regenerate deliberately with
/// `VERITAS_UPDATE_FIXTURES=1`, and bump the version tag or encoding version with it).
#[test]
fn the_golden_proof_is_stable_and_verifies() {
    let (model, input) = small();
    let key = ProvingKey::new(&model, FAST).unwrap();
    let (output, proof) = prove(&key, &input).unwrap();
    let bytes = proof.to_bytes();
    let key_path = fixture_path().with_extension("key");
    if std::env::var_os("VERITAS_UPDATE_FIXTURES").is_some() {
        std::fs::write(fixture_path(), &bytes).unwrap();
        std::fs::write(&key_path, key.verifying_key().to_bytes()).unwrap();
    }
    let golden = std::fs::read(fixture_path()).expect("the golden proof (VERITAS_UPDATE_FIXTURES=1 writes it)");
    assert!(golden == bytes, "the proof's bytes changed: the protocol or its encoding changed");
    let vk = VerifyingKey::from_bytes(&std::fs::read(&key_path).unwrap()).unwrap();
    assert_eq!(&vk, key.verifying_key());
    assert_eq!(verify(&vk, &input, &output, &ModelProof::from_bytes(&golden, &vk).unwrap()), Ok(()));
}
