//! The verifier as the browser runs it: `cargo xtask web` compiles this crate to WebAssembly and
//! generates its JavaScript bindings into `web/pkg`, which the node serves with the web chat. The
//! page decides every receipt's badge with it, from the receipt alone, taking nobody's word.

use wasm_bindgen::prelude::wasm_bindgen;

/// Verifies a receipt's JSON and describes the outcome as JSON: the badge (`pending`,
/// `verified`, `settled` or `invalid`), the error that made it invalid, and otherwise the
/// receipt id, worker, model id, mode, the guarantee of its mode, each check made and, for a
/// `tee` claim, its label (`UNTRUSTED / SIMULATED` for the development enclave) and assumptions.
/// `tee_policy_json` is the TEE policy the reader accepts (empty: none, so every `tee` claim is
/// invalid).
#[wasm_bindgen]
pub fn describe(receipt_json: &str, tee_policy_json: &str) -> String {
    let policy = if tee_policy_json.trim().is_empty() {
        Ok(veritas_verifier::tee::Policy::default())
    } else {
        veritas_verifier::tee::Policy::from_json(tee_policy_json.as_bytes())
    };
    match policy {
        Ok(policy) => veritas_verifier::describe_json(receipt_json.as_bytes(), &policy).to_string(),
        Err(err) => serde_json::json!({"badge": "invalid", "error": err.to_string()}).to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn garbage_is_described_as_invalid_with_the_reason() {
        let shown: serde_json::Value = serde_json::from_str(&super::describe("[1, 2", "")).unwrap();
        assert_eq!(shown["badge"], "invalid");
        assert!(shown["error"].as_str().unwrap().starts_with("malformed"), "{shown}");
        let shown: serde_json::Value = serde_json::from_str(&super::describe("{}", "{\"x\": 1}")).unwrap();
        assert!(shown["error"].as_str().unwrap().starts_with("tee policy"), "{shown}");
    }
}
