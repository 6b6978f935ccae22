//! The native half of the Python SDK (`veritas._native`): the verifier and the request signer,
//! as small pure functions over JSON text, like the browser's WebAssembly verifier
//! (crates/verifier-wasm). The Python package does the I/O around them.

use pyo3::{exceptions::PyValueError, prelude::*, types::PyDict};
use veritas_primitives::{
    B256, Receipt, Tensor, Value, Values, WorkerKey, hex,
    request::{
        ACCOUNT_HEADER, NONCE_HEADER, RequestScope, SIGNATURE_HEADER, SignedRequest, TIMESTAMP_HEADER, check_nonce,
        request_digest,
    },
    values::{values_from_json, values_hash},
};

/// Verifies a receipt's JSON text under a TEE policy (JSON text; empty: the default policy,
/// which accepts no enclave) and describes the outcome as JSON: `badge` (`pending`, `verified`,
/// `settled` or `invalid`), and either `error` with `failed_check`, or the receipt id, worker,
/// model id, mode, guarantee, `checks`, `tee`, `zk`, `confidential` and `chain_check`.
#[pyfunction]
fn describe(receipt_json: &str, tee_policy_json: &str) -> String {
    let policy = if tee_policy_json.trim().is_empty() {
        Ok(veritas_verifier::tee::Policy::default())
    } else {
        veritas_verifier::tee::Policy::from_json(tee_policy_json.as_bytes())
    };
    match policy {
        Ok(policy) => veritas_verifier::describe_json(receipt_json.as_bytes(), &policy).to_string(),
        Err(err) => {
            serde_json::json!({"badge": "invalid", "error": format!("the TEE policy: {err}"), "failed_check": "tee"})
                .to_string()
        }
    }
}

/// Whether an ONNX answer is the one its receipt signs for the input sent: the input sent (JSON
/// text: nested arrays, typed by the receipt's own input, or the typed form) hashes to the
/// claim's input hash, and the output shown (JSON text) is the receipt's output. Returns the
/// reason it is not, or `None`. The receipt itself is checked by [`describe`].
#[pyfunction]
fn check_answer(receipt_json: &str, input_json: &str, output_json: &str) -> Option<String> {
    let receipt: Receipt = match serde_json::from_str(receipt_json) {
        Ok(receipt) => receipt,
        Err(err) => return Some(format!("malformed receipt: {err}")),
    };
    if let Err(reason) = check_input(&receipt, input_json) {
        return Some(reason);
    }
    let shown = serde_json::from_str(output_json)
        .map_err(|err| err.to_string())
        .and_then(|json| values_from_json(&json).map_err(|err| err.to_string()));
    match (&receipt.body.output, shown) {
        (None, _) => Some("the receipt carries no output".into()),
        (Some(_), Err(err)) => Some(format!("the output shown is not named values: {err}")),
        (Some(signed), Ok(shown)) if *signed != shown => {
            Some("the output shown is not the output the receipt signs".into())
        }
        (Some(_), Ok(_)) => None,
    }
}

fn check_input(receipt: &Receipt, input_json: &str) -> Result<(), String> {
    let Some(signed) = &receipt.body.input else {
        return Err("the receipt carries no input".into());
    };
    let sent: serde_json::Value = serde_json::from_str(input_json).map_err(|err| format!("the input sent: {err}"))?;
    let serde_json::Value::Object(sent) = sent else {
        return Err("the input sent is not a JSON object of named tensors".into());
    };
    let mut values = Values::new();
    for (name, json) in &sent {
        let value = if json.get("dtype").is_some() {
            Value::from_json(name, json).map_err(|err| err.to_string())?
        } else {
            // Nested arrays carry no element type: the receipt's input names it, and the hash
            // below decides whether the values are the ones sent.
            let Some(Value::Tensor(tensor)) = signed.get(name) else {
                return Err(format!("the receipt signs no tensor input {name:?}"));
            };
            let dtype = tensor.data.dtype();
            Value::Tensor(Tensor::from_nested_json(name, dtype, json).map_err(|err| err.to_string())?)
        };
        values.insert(name.clone(), value);
    }
    if values_hash(&values) != receipt.claim.input_hash {
        return Err("the receipt is about another input than the one sent".into());
    }
    Ok(())
}

fn account_key(account_key_hex: &str) -> PyResult<WorkerKey> {
    let bytes = hex::decode(account_key_hex.trim().trim_start_matches("0x"))
        .map_err(|err| PyValueError::new_err(format!("the account key is not hex: {err}")))?;
    let bytes: [u8; 32] = bytes.try_into().map_err(|bytes: Vec<u8>| {
        PyValueError::new_err(format!("the account key is {} bytes, expected 32", bytes.len()))
    })?;
    WorkerKey::from_bytes(&B256::from(bytes)).map_err(|err| PyValueError::new_err(err.to_string()))
}

/// The address (checksummed hex) of an account key (hex).
#[pyfunction]
fn account_address(account_key_hex: &str) -> PyResult<String> {
    Ok(account_key(account_key_hex)?.address().to_string())
}

/// The `X-Veritas-*` headers of a request signed by an account key (hex) for a chain and a
/// gateway (as `GET /v1/network` names them): the EIP-191 signature of
/// `veritas_primitives::request::request_message`. `nonce`: 16 to 64 hex digits, used once.
#[pyfunction]
#[expect(clippy::too_many_arguments, reason = "the seven parts of the signed message, and the key")]
fn sign_request<'py>(
    py: Python<'py>,
    account_key_hex: &str,
    chain_id: u64,
    gateway: &str,
    method: &str,
    path: &str,
    timestamp: u64,
    nonce: &str,
    body: &[u8],
) -> PyResult<Bound<'py, PyDict>> {
    let key = account_key(account_key_hex)?;
    let gateway = gateway.parse().map_err(|err| PyValueError::new_err(format!("the gateway address: {err}")))?;
    check_nonce(nonce).map_err(|err| PyValueError::new_err(err.to_string()))?;
    let scope = RequestScope { chain_id, gateway };
    let request = SignedRequest { method, path, timestamp, nonce, body };
    let signature =
        key.sign_digest(&request_digest(&scope, &request)).map_err(|err| PyValueError::new_err(err.to_string()))?;
    let headers = PyDict::new(py);
    headers.set_item(ACCOUNT_HEADER, key.address().to_string())?;
    headers.set_item(TIMESTAMP_HEADER, timestamp.to_string())?;
    headers.set_item(NONCE_HEADER, nonce)?;
    headers.set_item(SIGNATURE_HEADER, hex::encode(signature))?;
    Ok(headers)
}

#[pymodule]
fn _native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_function(wrap_pyfunction!(describe, module)?)?;
    module.add_function(wrap_pyfunction!(check_answer, module)?)?;
    module.add_function(wrap_pyfunction!(account_address, module)?)?;
    module.add_function(wrap_pyfunction!(sign_request, module)?)?;
    Ok(())
}
