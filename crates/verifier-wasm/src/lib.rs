//! The verifier as the browser runs it: `cargo xtask web` compiles this crate to WebAssembly and
//! generates its JavaScript bindings into `web/pkg`, which the node serves with the web chat. The
//! page decides every receipt's badge with it, from the receipt alone, taking nobody's word.

use veritas_primitives::{Evidence, Receipt, TensorData, Value, Values, hex};
use veritas_verifier::{
    Expectations,
    confidential::{self, AnswerReader, KeyConfig},
    tee::{Policy, TeeEvidence, TeeReport},
    verify_receipt,
};
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

/// A confidential conversation's enclave, as the web chat holds it: its key offer checked under
/// the reader's policy, then one sealed request at a time (docs/tee.md, "Confidential
/// requests"). The browser supplies the randomness (`crypto.getRandomValues`) and the time.
#[wasm_bindgen]
pub struct Enclave {
    worker: String,
    config: KeyConfig,
    report: TeeReport,
    policy: std::sync::Arc<Policy>,
    /// The request sealed last: the reader of its answer, and the nonce its claim must bind.
    sealed: Option<(AnswerReader, [u8; 32])>,
}

fn hex_bytes(text: &str, what: &str) -> Result<Vec<u8>, String> {
    hex::decode(text.trim_start_matches("0x")).map_err(|err| format!("{what} is not hex: {err}"))
}

/// Checks an enclave's key offer (`POST /v1/confidential/key`'s answer, JSON) for the nonce
/// this page sent (hex) under a TEE policy (JSON) at `now` (Unix seconds): the attestation
/// holds, answers the nonce and binds the offered key. Nothing may be sealed to an enclave whose
/// offer does not hold; the error names the failed check.
#[wasm_bindgen]
pub fn check_enclave(offer_json: &str, nonce_hex: &str, policy_json: &str, now: f64) -> Result<Enclave, String> {
    let policy = Policy::from_json(policy_json.as_bytes()).map_err(|err| err.to_string())?;
    let offer: serde_json::Value = serde_json::from_str(offer_json).map_err(|err| format!("the key offer: {err}"))?;
    let field = |name: &str| offer[name].as_str().ok_or_else(|| format!("the key offer has no {name}"));
    let evidence: Evidence =
        serde_json::from_value(offer["evidence"].clone()).map_err(|err| format!("the key offer's evidence: {err}"))?;
    let evidence = TeeEvidence::from_evidence(&evidence)
        .ok_or_else(|| format!("evidence of kind {:?} is not TEE evidence", evidence.kind))?
        .map_err(|err| err.to_string())?;
    let config = hex_bytes(field("key_config")?, "the key configuration")?;
    let nonce = hex_bytes(nonce_hex, "the nonce")?;
    let (report, config) =
        confidential::check_key_offer(&config, &evidence.attestation, &evidence.nonce, &nonce, &policy, now as u64)
            .map_err(|err| err.to_string())?;
    Ok(Enclave { worker: field("worker")?.to_owned(), config, report, policy: policy.into(), sealed: None })
}

#[wasm_bindgen]
impl Enclave {
    /// What the checked attestation shows: `{"worker", "label", "insecure", "assumptions"}`.
    pub fn describe(&self) -> String {
        serde_json::json!({
            "worker": self.worker,
            "label": self.report.label(),
            "insecure": self.report.insecure,
            "assumptions": self.report.assumptions(),
        })
        .to_string()
    }

    /// Seals `{"model": model_id, "input": input, "time": now}` (`input_json`: the chat's
    /// `{"messages": […]}`; `now`: Unix seconds, the enclave serves each sealed request once and
    /// only near its time) with 32 random bytes (`seed_hex`); returns `{"worker", "request",
    /// "nonce"}`: the `veritas_sealed` to send and the nonce its receipt's attestation must bind.
    pub fn seal(&mut self, model_id: &str, input_json: &str, seed_hex: &str, now: f64) -> Result<String, String> {
        let input: serde_json::Value = serde_json::from_str(input_json).map_err(|err| format!("the input: {err}"))?;
        let seed: [u8; 32] =
            hex_bytes(seed_hex, "the seed")?.try_into().map_err(|_| "the seed must be 32 bytes".to_owned())?;
        let plaintext = serde_json::json!({ "model": model_id, "input": input, "time": now as u64 }).to_string();
        let (request, exchange) =
            confidential::seal_request(&self.config, plaintext.as_bytes(), seed).map_err(|err| err.to_string())?;
        let nonce = confidential::request_nonce(&request);
        self.sealed = Some((AnswerReader::new(exchange), nonce));
        Ok(serde_json::json!({
            "worker": self.worker,
            "request": format!("0x{}", hex::encode(&request)),
            "nonce": hex::encode(nonce),
        })
        .to_string())
    }

    /// Opens the next streamed piece (hex) of the answer: the first is the response nonce
    /// (returns ""), each after it a piece of text.
    pub fn open_piece(&mut self, piece_hex: &str) -> Result<String, String> {
        let (reader, _) = self.sealed.as_mut().ok_or("nothing was sealed")?;
        let bytes = hex_bytes(piece_hex, "a sealed piece")?;
        let text = reader.piece(&bytes).map_err(|err| err.to_string())?;
        String::from_utf8(text).map_err(|_| "a sealed piece that is not text".to_owned())
    }

    /// Checks the answer's receipt (JSON) and its sealed last chunk (`veritas.sealed`, JSON): the
    /// receipt holds under the policy, is this enclave's confidential claim, its attestation
    /// binds the request sealed; the last chunk follows the pieces streamed and opens to the
    /// claim's committed input and output. Returns `{"text", "messages"}` as the enclave opened
    /// them, for the page to compare with what it sent and showed.
    pub fn finish(&self, receipt_json: &str, sealed_json: &str) -> Result<String, String> {
        let (reader, nonce) = self.sealed.as_ref().ok_or("nothing was sealed")?;
        let receipt: Receipt = serde_json::from_str(receipt_json).map_err(|err| format!("the receipt: {err}"))?;
        let expect = Expectations { tee_policy: self.policy.clone(), ..Expectations::default() };
        let report = verify_receipt(&receipt, &expect).map_err(|err| err.to_string())?;
        if !report.confidential || receipt.claim.worker.to_string().to_lowercase() != self.worker.to_lowercase() {
            return Err("the receipt is not a confidential claim of the enclave the request was sealed to".into());
        }
        if report.tee_nonce.as_deref() != Some(nonce.as_slice()) {
            return Err("the receipt's attestation does not bind the request this page sealed".into());
        }
        let sealed: serde_json::Value =
            serde_json::from_str(sealed_json).map_err(|err| format!("the sealed answer: {err}"))?;
        let index = sealed["index"].as_u64().ok_or("the sealed answer has no index")?;
        let response_nonce = hex_bytes(sealed["response_nonce"].as_str().unwrap_or_default(), "the response nonce")?;
        let last = hex_bytes(sealed["last"].as_str().unwrap_or_default(), "the last chunk")?;
        let opened = reader.last(&response_nonce, index, &last, true).map_err(|err| err.to_string())?;
        let opening: serde_json::Value =
            serde_json::from_slice(&opened).map_err(|err| format!("the last chunk: {err}"))?;
        let values = |name: &str| -> Result<Values, String> {
            serde_json::from_value(opening[name].clone()).map_err(|err| format!("the last chunk's {name}: {err}"))
        };
        let (input, output) = (values("input")?, values("output")?);
        confidential::check_opening(&receipt.claim, reader.exchange().salt(), &input, &output)
            .map_err(|err| err.to_string())?;
        Ok(serde_json::json!({
            "text": string_value(&output, "text"),
            "messages": string_value(&input, "messages"),
        })
        .to_string())
    }
}

/// The one string of a named string tensor.
fn string_value(values: &Values, name: &str) -> Option<String> {
    match values.get(name)? {
        Value::Tensor(tensor) => match &tensor.data {
            TensorData::String(strings) => strings.first().cloned(),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn garbage_is_described_as_invalid_with_the_reason() {
        let shown: serde_json::Value = serde_json::from_str(&super::describe("[1, 2", "")).unwrap();
        assert_eq!(shown["badge"], "invalid");
        assert!(shown["error"].as_str().unwrap().starts_with("malformed"), "{shown}");
        assert_eq!(shown["failed_check"], "receipt");
        let shown: serde_json::Value = serde_json::from_str(&super::describe("{}", "{\"x\": 1}")).unwrap();
        assert!(shown["error"].as_str().unwrap().starts_with("tee policy"), "{shown}");
    }
}
