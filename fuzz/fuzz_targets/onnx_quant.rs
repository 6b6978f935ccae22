//! Fuzz target: the ONNX decoder and importer of the quantizer, and a quantized model read from
//! JSON (validated, then run on zeros); none may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use veritas_quant::QuantizedModel;

fuzz_target!(|data: &[u8]| {
    if let Ok(model) = veritas_quantize::import(data)
        && model.input_len() <= 1 << 16
    {
        let _ = model.run(&vec![0.5; model.input_len()]);
    }
    if let Ok(model) = serde_json::from_slice::<QuantizedModel>(data)
        && model.validate().is_ok()
        && model.input_len() <= 1 << 16
    {
        let _ = model.run(&vec![1; model.input_len()]);
    }
});
