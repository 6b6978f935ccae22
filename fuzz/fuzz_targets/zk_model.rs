//! Fuzz target: model proofs and verifying keys from untrusted bytes. Whatever decodes re-encodes
//! identically and verifies without panicking; and the input read as edits (byte position, xor
//! mask) to an honest proof of a small fixed network never yields a different proof that verifies.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use veritas_quant::{QuantLayer, QuantOp, QuantizedModel, Requant};
use veritas_zk::ZkResult;
use veritas_zk::model::{Bounds, ModelProof, ProvingKey, VerifyingKey, prove};
use veritas_zk::pcs::PcsParams;

/// `model::verify` with no least soundness (the fixture's few queries have a few bits); the
/// work budget is kept, and keys decoded from the input are checked against it too.
fn verify(key: &VerifyingKey, input: &[i8], output: &[i8], proof: &ModelProof) -> ZkResult<()> {
    key.bounded(&Bounds { min_security_bits: 0, ..Bounds::DEFAULT })?.verify(input, output, proof)
}

struct Fixture {
    key: ProvingKey,
    input: Vec<i8>,
    output: Vec<i8>,
    proof: Vec<u8>,
}

fn linear(input: usize, in_features: usize, out_features: usize, relu: bool) -> QuantLayer {
    let weights = (0..in_features * out_features).map(|i| ((i * 37 % 255) as i32 - 127) as i8).collect();
    let bias = (0..out_features).map(|i| i as i32 * 100 - 150).collect();
    let requant = Requant { multiplier: 1 << 30, shift: 36 };
    QuantLayer {
        op: QuantOp::Linear { input, in_features, out_features, weights, bias, requant, relu },
        shape: vec![out_features],
        scale: 1.0,
    }
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let model = QuantizedModel {
            input_name: "input".into(),
            input_shape: vec![8],
            input_scale: 1.0,
            layers: vec![linear(0, 8, 5, true), linear(1, 5, 3, false)],
            output: 2,
        };
        // Few queries keep each verification fast; the decoding and checks are the same.
        let params = PcsParams { log_blowup: 1, num_queries: 4, pow_bits: 0 };
        let key = ProvingKey::new(&model, params).expect("the fixed network commits");
        let input = vec![3, -7, 127, -128, 0, 55, -20, 9];
        let (output, proof) = prove(&key, &input).expect("the fixed network proves");
        Fixture { key, input, output, proof: proof.to_bytes() }
    })
}

fuzz_target!(|data: &[u8]| {
    let fixture = fixture();
    let vk = fixture.key.verifying_key();
    if let Ok(key) = VerifyingKey::from_bytes(data) {
        assert_eq!(key.to_bytes(), data);
        let _ = key.bounded(&Bounds::DEFAULT);
    }
    if let Ok(proof) = ModelProof::from_bytes(data, vk) {
        assert_eq!(proof.to_bytes(), data);
        let _ = verify(vk, &fixture.input, &fixture.output, &proof);
    }
    let mut edited = fixture.proof.clone();
    for edit in data.chunks_exact(5) {
        let position = u32::from_le_bytes([edit[0], edit[1], edit[2], edit[3]]) as usize % edited.len();
        edited[position] ^= edit[4];
    }
    if edited != fixture.proof {
        let accepted =
            ModelProof::from_bytes(&edited, vk).is_ok_and(|p| verify(vk, &fixture.input, &fixture.output, &p).is_ok());
        assert!(!accepted, "an edited proof verified");
    }
});
