//! `veritas model push --zk-calibration`: an ONNX network quantized to int8 here, calibrated on
//! the user's samples, with its accuracy against the float network (docs/zk.md).

use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};
use serde_json::Value;

/// Flattens one sample: nested arrays of numbers, or an object with one entry (the form
/// `veritas infer --input` takes, `{"input": [[...]]}`).
fn flatten(value: &Value, out: &mut Vec<f32>) -> anyhow::Result<()> {
    match value {
        Value::Array(items) => items.iter().try_for_each(|v| flatten(v, out)),
        Value::Number(n) => {
            out.push(n.as_f64().context("a number out of range")? as f32);
            Ok(())
        }
        Value::Object(map) if map.len() == 1 => flatten(map.values().next().expect("OK: one entry"), out),
        other => bail!("a sample holds {other}; expected numbers, arrays of them, or {{\"input\": [...]}}"),
    }
}

/// Reads the calibration samples: a JSON array, one sample per element.
pub(crate) fn samples(path: &Path) -> anyhow::Result<Vec<Vec<f32>>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let value: Value = serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let Value::Array(items) = value else {
        bail!("{} must hold a JSON array of samples", path.display());
    };
    if items.is_empty() {
        bail!("{} holds no samples", path.display());
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let mut sample = Vec::new();
            flatten(item, &mut sample).with_context(|| format!("sample {i}"))?;
            Ok(sample)
        })
        .collect()
}

/// Quantizes `onnx` calibrated on the samples in `calibration`, prints the accuracy against the
/// float network (to stderr, so `--json` output stays one object), and writes the quantized
/// network to a temporary `.quant.json` file.
pub(crate) fn quantize(onnx: &Path, calibration: &Path, json: bool) -> anyhow::Result<tempfile::NamedTempFile> {
    let bytes = std::fs::read(onnx).with_context(|| format!("cannot read {}", onnx.display()))?;
    let samples = samples(calibration)?;
    let float = veritas_quantize::import(&bytes).with_context(|| format!("cannot import {}", onnx.display()))?;
    if let Some((i, sample)) = samples.iter().enumerate().find(|(_, s)| s.len() != float.input_len()) {
        bail!("sample {i} has {} values; the model takes {}", sample.len(), float.input_len());
    }
    let quantized = veritas_quantize::calibrate::quantize_model(&float, &samples).context("cannot quantize")?;
    let report = veritas_quantize::compare(&float, &quantized, &samples).context("cannot compare")?;
    if !json {
        eprintln!(
            "quantized to int8 on {} samples: top-1 agrees with the float model on {}/{} ({:.1}%), max |error| {:.4} \
             (outputs up to {:.4}), mean {:.4}",
            report.samples,
            report.top1_agree,
            report.samples,
            100.0 * report.agreement(),
            report.max_abs_error,
            report.max_abs_float,
            report.mean_abs_error
        );
    }
    let mut file = tempfile::Builder::new().suffix(".quant.json").tempfile()?;
    file.write_all(&serde_json::to_vec(&quantized)?)?;
    file.flush()?;
    Ok(file)
}
