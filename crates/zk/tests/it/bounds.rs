//! The verifier's bounds (`model::bounds`): a key with parameters below 100 bits of proven
//! soundness, or an architecture whose verification would take more work or memory than the
//! budget (a huge pooling window, a convolution of too many taps, too many tensors, a huge
//! DFT), is refused before anything runs, whatever the proof; honest models are far inside.

use std::time::{Duration, Instant};

use veritas_quant::geometry::{Conv2d, Pool2d};
use veritas_quant::{QuantLayer, QuantOp, QuantizedModel, Requant};
use veritas_zk::model::bounds::{MAX_MEMORY, MAX_WORK, MIN_SECURITY_BITS};
use veritas_zk::model::layout::Layout;
use veritas_zk::model::{Bounds, ModelProof, ProvingKey, VerifyingKey, prove, verify, verify_output};
use veritas_zk::pcs::{Commitment, PcsParams};
use veritas_zk::{F, ZkError};

use p3_field::PrimeCharacteristicRing;

const REQUANT: Requant = Requant { multiplier: 1 << 30, shift: 36 };

fn layer(op: QuantOp, shape: Vec<usize>) -> QuantLayer {
    QuantLayer { op, shape, scale: 1.0 }
}

fn linear(input: usize, in_features: usize, out_features: usize, with_parameters: bool) -> QuantLayer {
    let (weights, bias) = if with_parameters {
        let weights = (0..in_features * out_features).map(|i| ((i * 37 % 255) as i32 - 127) as i8).collect();
        (weights, (0..out_features).map(|i| i as i32 * 100 - 150).collect())
    } else {
        (vec![], vec![])
    };
    let op = QuantOp::Linear { input, in_features, out_features, weights, bias, requant: REQUANT, relu: false };
    layer(op, vec![out_features])
}

/// A two-layer MLP (8 → 5 → 3) with parameters, and an input.
fn small() -> (QuantizedModel, Vec<i8>) {
    let model = QuantizedModel {
        input_name: "input".into(),
        input_shape: vec![8],
        input_scale: 1.0,
        layers: vec![linear(0, 8, 5, true), linear(1, 5, 3, true)],
        output: 2,
    };
    (model, vec![3, -7, 127, -128, 0, 55, -20, 9])
}

/// The verifying key a malicious manifest would publish for `architecture` (no parameters):
/// the commitment has the length the architecture's layout needs (any root), and the key
/// decodes, so only the bounds stand between it and a verifier.
fn crafted(input_shape: Vec<usize>, layers: Vec<QuantLayer>, params: PcsParams) -> VerifyingKey {
    let output = layers.len();
    let architecture = QuantizedModel { input_name: "input".into(), input_shape, input_scale: 1.0, layers, output };
    architecture.validate_architecture().expect("a valid architecture");
    let layout = Layout::new(&architecture).expect("a layout");
    let commitment = Commitment { log_len: layout.log_len, len: layout.used, root: [F::ONE; 4] };
    let key = VerifyingKey { architecture, commitment, params };
    assert_eq!(VerifyingKey::from_bytes(&key.to_bytes()).as_ref(), Ok(&key), "the crafted key decodes");
    key
}

/// An honest proof of another model: what a crafted receipt carries does not matter, the key
/// is refused first.
fn some_proof() -> ModelProof {
    let (model, input) = small();
    prove(&ProvingKey::new(&model, PcsParams::DEFAULT).unwrap(), &input).unwrap().1
}

/// Checks `key` is refused with `expected` in well under a second, both by the bounds alone and
/// by `verify`/`verify_output` with any proof.
fn refused(key: &VerifyingKey, bounds: &Bounds, expected: impl Fn(&ZkError) -> bool) {
    let proof = some_proof();
    let start = Instant::now();
    let error = key.bounded(bounds).expect_err("refused");
    assert!(expected(&error), "{error}");
    if *bounds == Bounds::DEFAULT {
        assert_eq!(verify(key, &[0; 8], &[0; 3], &proof), Err(error.clone()));
        assert_eq!(verify_output(key, &[0; 8], &proof), Err(error.clone()));
    }
    let elapsed = start.elapsed();
    assert!(elapsed < Duration::from_secs(1), "refused in {elapsed:?}");
}

fn over_work(error: &ZkError) -> bool {
    matches!(error, ZkError::OverBudget { what: "work units", estimate, budget: MAX_WORK } if *estimate > MAX_WORK)
}

#[test]
fn parameters_below_100_bits_are_refused_before_anything_runs() {
    let (model, input) = small();
    // One query and no grinding (rate 1/2: 0.415 bits), then 130 queries without the 13 bits
    // of grinding (88 bits).
    for (params, expected_bits) in [
        (PcsParams { log_blowup: 1, num_queries: 1, pow_bits: 0 }, 0),
        (PcsParams { pow_bits: 0, ..PcsParams::DEFAULT }, 87),
    ] {
        let key = ProvingKey::new(&model, params).unwrap();
        let vk = key.verifying_key();
        let (output, proof) = prove(&key, &input).unwrap();
        let refused = Err(ZkError::Insecure { bits: expected_bits, required: MIN_SECURITY_BITS });
        assert_eq!(vk.bounded(&Bounds::DEFAULT).map(|_| ()), refused.clone(), "{params:?}");
        assert_eq!(verify(vk, &input, &output, &proof), refused.clone(), "{params:?}");
        assert_eq!(verify_output(vk, &input, &proof), refused.clone().map(|()| vec![]), "{params:?}");
        // The key decodes (its bytes are well formed) and the proof is honest: the least
        // soundness alone refuses it.
        assert_eq!(VerifyingKey::from_bytes(&vk.to_bytes()).as_ref(), Ok(vk));
        let lenient = Bounds { min_security_bits: 0, ..Bounds::DEFAULT };
        assert_eq!(vk.bounded(&lenient).unwrap().verify(&input, &output, &proof), Ok(()));
    }
    // The node's parameters pass, with the proof.
    let key = ProvingKey::new(&model, PcsParams::DEFAULT).unwrap();
    let (output, proof) = prove(&key, &input).unwrap();
    let bounded = key.verifying_key().bounded(&Bounds::DEFAULT).unwrap();
    assert!(bounded.security_bits() >= 100.0, "{}", bounded.security_bits());
    assert_eq!(bounded.verify_output(&input, &proof), Ok(output));
}

#[test]
fn a_huge_pooling_window_is_refused_by_the_work_budget() {
    // A 2^31 × 2^31 window over a 2 × 2 input (padding makes it valid, a stride of 2^33 one
    // output): 2^62 taps, and a window buffer of as many indices.
    let pool = Pool2d {
        channels: 1,
        in_height: 2,
        in_width: 2,
        kernel: [1 << 31, 1 << 31],
        stride: [1 << 33, 1 << 33],
        pads: [(1 << 31) - 1; 4],
    };
    let key = crafted(
        vec![1, 2, 2],
        vec![layer(QuantOp::MaxPool { input: 0, geometry: pool }, vec![1, 1, 1]), linear(1, 1, 1, false)],
        PcsParams::DEFAULT,
    );
    refused(&key, &Bounds::DEFAULT, over_work);
    // A plausible one: 1023 × 1023 windows of 1024 × 1024 over a 1024 × 1024 input, 2^40 taps.
    let pool = Pool2d {
        channels: 1,
        in_height: 1024,
        in_width: 1024,
        kernel: [1024, 1024],
        stride: [1, 1],
        pads: [511, 511, 511, 511],
    };
    let key = crafted(
        vec![1, 1024, 1024],
        vec![
            layer(QuantOp::MaxPool { input: 0, geometry: pool }, vec![1, 1023, 1023]),
            linear(1, 1023 * 1023, 1, false),
        ],
        PcsParams::DEFAULT,
    );
    refused(&key, &Bounds::DEFAULT, over_work);
}

#[test]
fn a_convolution_of_too_many_taps_is_refused_by_the_work_budget() {
    // 481 × 481 positions of 64 · 32 · 32 taps each: 1.5 · 10^10 products in the input column.
    let geometry = Conv2d {
        in_channels: 64,
        in_height: 512,
        in_width: 512,
        out_channels: 1,
        kernel: [32, 32],
        stride: [1, 1],
        pads: [0; 4],
    };
    let conv = QuantOp::Conv { input: 0, geometry, weights: vec![], bias: vec![], requant: REQUANT, relu: false };
    let key = crafted(vec![64, 512, 512], vec![layer(conv, vec![1, 481, 481])], PcsParams::DEFAULT);
    refused(&key, &Bounds::DEFAULT, over_work);
}

#[test]
fn too_many_tensors_are_refused_by_the_memory_budget() {
    // 40 ReLU layers of 2^24 values: the verifier keeps every tensor of the trace, 640 MiB.
    let mut layers: Vec<QuantLayer> = (0..40).map(|i| layer(QuantOp::Relu { input: i }, vec![1 << 24])).collect();
    layers.push(linear(40, 1 << 24, 1, false));
    let key = crafted(vec![1 << 24], layers, PcsParams::DEFAULT);
    let over_memory = |error: &ZkError| matches!(error, ZkError::OverBudget { what: "bytes of memory", estimate, budget: MAX_MEMORY } if *estimate > MAX_MEMORY);
    refused(&key, &Bounds { max_work: u64::MAX, ..Bounds::DEFAULT }, over_memory);
    refused(&key, &Bounds::DEFAULT, |e| matches!(e, ZkError::OverBudget { .. }));
}

#[test]
fn a_huge_dft_is_refused() {
    // 2^30 committed parameters at rate 1/256 with 1,024 queries: the opening's combined row
    // is encoded into a codeword of 2^27 or more points (gigabytes). The field term of the
    // soundness bound already refuses such a codeword; without it, the memory budget does.
    let params = PcsParams { log_blowup: 8, num_queries: 1024, pow_bits: 0 };
    let key = crafted(vec![1 << 15], vec![linear(0, 1 << 15, (1 << 15) - 1, false)], params);
    let codeword = params.shape(30, key.commitment.len).unwrap().log_codeword_len;
    assert!(codeword >= 27, "2^{codeword}");
    refused(&key, &Bounds::DEFAULT, |e| matches!(e, ZkError::Insecure { required: 100, .. }));
    let lenient = Bounds { min_security_bits: 0, ..Bounds::DEFAULT };
    refused(&key, &lenient, |e| matches!(e, ZkError::OverBudget { .. }));
}

#[test]
fn honest_models_are_far_inside_the_budget() {
    for name in ["mnist-mlp", "mnist-cnn"] {
        let (model, _) = crate::model::example(name);
        let key = ProvingKey::new(&model, PcsParams::DEFAULT).unwrap();
        let cost = key.verifying_key().bounded(&Bounds::DEFAULT).unwrap().cost();
        assert!(cost.work < MAX_WORK / 64 && cost.memory < MAX_MEMORY / 64, "{name}: {cost:?}");
    }
}

/// Prints each model's estimate beside its measured verification time (median of 5), to check
/// the work units' scale: `cargo test --release -p veritas-zk --test it -- --ignored
/// --nocapture bounds::calibrate`.
#[test]
#[ignore = "a measurement, run by hand in release"]
fn calibrate() {
    let bench = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../bench/zk/models");
    let mut models = vec![];
    for name in ["mnist-mlp", "mnist-cnn"] {
        models.push((name.to_owned(), crate::model::example(name)));
    }
    for name in ["lenet5", "cnn-large"] {
        let bytes = std::fs::read(bench.join(format!("{name}.onnx"))).unwrap();
        let text = std::fs::read_to_string(bench.join(format!("{name}.input.json"))).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut sample = vec![];
        flatten(value.as_object().unwrap().values().next().unwrap(), &mut sample);
        let model = veritas_quantize::quantize(&bytes, std::slice::from_ref(&sample)).unwrap();
        let input = model.quantize_input(&sample);
        models.push((name.to_owned(), (model, input)));
    }
    // The budget's two directions: pooling windows and convolution taps, each about 2^29 units.
    let weights = |n: usize| (0..n).map(|i| ((i * 37 % 255) as i32 - 127) as i8 / 4).collect::<Vec<i8>>();
    let pool = Pool2d { channels: 1, in_height: 512, in_width: 512, kernel: [48, 48], stride: [1, 1], pads: [0; 4] };
    let pooled = 465 * 465;
    let linear_op = |input: usize, in_features: usize| QuantOp::Linear {
        input,
        in_features,
        out_features: 2,
        weights: weights(2 * in_features),
        bias: vec![1, -1],
        requant: REQUANT,
        relu: false,
    };
    let pool_model = QuantizedModel {
        input_name: "input".into(),
        input_shape: vec![1, 512, 512],
        input_scale: 1.0,
        layers: vec![
            layer(QuantOp::MaxPool { input: 0, geometry: pool }, vec![1, 465, 465]),
            layer(linear_op(1, pooled), vec![2]),
        ],
        output: 2,
    };
    let geometry = Conv2d {
        in_channels: 64,
        in_height: 128,
        in_width: 128,
        out_channels: 1,
        kernel: [32, 32],
        stride: [1, 1],
        pads: [0; 4],
    };
    let conv =
        QuantOp::Conv { input: 0, geometry, weights: weights(65536), bias: vec![3], requant: REQUANT, relu: true };
    let conv_model = QuantizedModel {
        input_name: "input".into(),
        input_shape: vec![64, 128, 128],
        input_scale: 1.0,
        layers: vec![layer(conv, vec![1, 97, 97])],
        output: 1,
    };
    for (name, model) in [("pool 2^29 taps", pool_model), ("conv 2^29 taps", conv_model)] {
        model.validate().unwrap();
        let input: Vec<i8> = (0..model.input_len()).map(|i| (i * 29 % 255) as i8).collect();
        models.push((name.to_owned(), (model, input)));
    }
    for (name, (model, input)) in models {
        let key = ProvingKey::new(&model, PcsParams::DEFAULT).unwrap();
        let (output, proof) = prove(&key, &input).unwrap();
        let vk = key.verifying_key();
        let start = Instant::now();
        let cost = vk.bounded(&Bounds::DEFAULT).map(|b| b.cost());
        let bounds_time = start.elapsed();
        let lenient = Bounds { max_work: u64::MAX, max_memory: u64::MAX, ..Bounds::DEFAULT };
        let mut times: Vec<f64> = (0..5)
            .map(|_| {
                let start = Instant::now();
                vk.bounded(&lenient).unwrap().verify(&input, &output, &proof).unwrap();
                start.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        times.sort_by(f64::total_cmp);
        let cost = cost.unwrap_or_else(|e| panic!("{name}: {e}"));
        println!(
            "{name}: {} work units ({:.1}% of the budget), {} KiB ({:.1}%), verify {:.2} ms ({:.2} ns per unit), bounds {:?}",
            cost.work,
            100.0 * cost.work as f64 / MAX_WORK as f64,
            cost.memory / 1024,
            100.0 * cost.memory as f64 / MAX_MEMORY as f64,
            times[2],
            times[2] * 1e6 / cost.work as f64,
            bounds_time
        );
    }
}

fn flatten(value: &serde_json::Value, out: &mut Vec<f32>) {
    match value {
        serde_json::Value::Array(items) => items.iter().for_each(|v| flatten(v, out)),
        serde_json::Value::Number(n) => out.push(n.as_f64().unwrap() as f32),
        other => panic!("unexpected {other}"),
    }
}
