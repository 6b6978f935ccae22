//! Confidential requests inside the enclave: the key offer, the opening of a sealed request and
//! the sealing of its answer (docs/tee.md, "Confidential requests"). Plaintext exists only here,
//! in the enclave's memory; every error a sealed request can cause is worded so that it quotes
//! none of it, because errors travel back through the gateway in the clear.

use std::sync::Arc;

use veritas_primitives::{ModelId, Params, Values, values::values_hash};
use veritas_verifier::confidential::{
    Chunks, EnclaveKey, Exchange, RESPONSE_NONCE_LEN, SCHEME, commitment, request_nonce,
};
use veritas_wire::{ConfidentialInput, ConfidentialOpening, KeyOffer, SEALED_WINDOW, SealedAnswer, SealedRequest};

use super::{Worker, enclave::parse_nonce};
use crate::{NodeError, NodeResult};

/// A sealed request opened inside the enclave.
pub(crate) struct Opened {
    /// What the client sealed: the inputs, or the chat's messages or prompt.
    pub input: serde_json::Value,
    /// The claim's attestation: this enclave, binding the hash of the sealed request.
    pub attest: super::enclave::Attest,
    /// What seals the answer and salts the commitments.
    pub sealer: Sealer,
}

fn refused(reason: impl Into<String>) -> NodeError {
    NodeError::Confidential(reason.into())
}

impl Worker {
    /// The enclave's key offer for a client's nonce (hex): the key configuration and the
    /// evidence that binds it with the nonce.
    pub async fn key_offer(&self, nonce: &str) -> NodeResult<KeyOffer> {
        let nonce = parse_nonce(nonce)?;
        let (enclave, key) = self.sealing()?;
        let config = key.config();
        let evidence = tokio::task::spawn_blocking(move || enclave.attest_key(&config, &nonce)).await??;
        // The lie a client must catch: a key of the node's own, offered with the enclave's evidence.
        let offered = match self.fault {
            Some(crate::Fault::OtherKey) => super::enclave::sealing_key().config(),
            _ => config,
        };
        Ok(KeyOffer { worker: self.core.key.address(), key_config: offered.encode().into(), evidence })
    }

    fn sealing(&self) -> NodeResult<(super::enclave::Enclave, Arc<EnclaveKey>)> {
        match (&self.enclave, &self.sealing_key) {
            (Some(enclave), Some(key)) => Ok((enclave.clone(), key.clone())),
            _ => Err(refused("this inference node runs in no enclave (start it with --tee)")),
        }
    }

    /// Opens a sealed request for `model` inside the enclave: it must be sealed to this node's
    /// key and name this model.
    pub(crate) fn open_sealed(&self, sealed: &SealedRequest, model: &ModelId) -> NodeResult<Opened> {
        let (enclave, key) = self.sealing()?;
        if sealed.worker != self.core.key.address() {
            return Err(refused(format!(
                "sealed to inference node {}, and this is {}",
                sealed.worker,
                self.core.key.address()
            )));
        }
        let (plaintext, exchange) = key.open(&sealed.request).map_err(|err| refused(err.to_string()))?;
        // serde's messages may quote the values they could not read: none of them leaves.
        let input: ConfidentialInput = serde_json::from_slice(&plaintext).map_err(|err| {
            refused(format!(
                "what opened is not a confidential input (JSON `{{\"model\", \"input\"}}`; at line {} column {})",
                err.line(),
                err.column()
            ))
        })?;
        if input.model != model.to_string() {
            return Err(refused(format!(
                "the sealed request names another model than the {model} it was sent for; refused without running"
            )));
        }
        // Each sealed request once, within its time: a captured one cannot be run (and charged)
        // again. The guard is kept in the node's store until the request's time is past.
        let now = crate::core::now_seconds();
        if now.abs_diff(input.time) > SEALED_WINDOW {
            return Err(refused(format!(
                "sealed at {} (Unix seconds), {} s from this enclave's clock ({now}); at most {SEALED_WINDOW} s",
                input.time,
                now.abs_diff(input.time)
            )));
        }
        let nonce = request_nonce(&sealed.request);
        let seen = veritas_primitives::keccak256([b"veritas/sealed-request".as_slice(), &nonce].concat());
        if !self.core.store.nonces().first_use_lazily(&seen, input.time + 2 * SEALED_WINDOW, now)? {
            return Err(refused("this sealed request was served already: a replay is refused"));
        }
        let attest = super::enclave::Attest { enclave, nonce: nonce.to_vec() };
        Ok(Opened { input: input.input, attest, sealer: Sealer::new(&exchange) })
    }
}

/// The sealed answer being written: a fresh response nonce, then the chunks in order.
pub(crate) struct Sealer {
    response_nonce: [u8; RESPONSE_NONCE_LEN],
    chunks: Chunks,
    next: u64,
    salt: [u8; 32],
}

impl Sealer {
    pub(crate) fn new(exchange: &Exchange) -> Sealer {
        let response_nonce = veritas_primitives::B256::random().0;
        Sealer { chunks: exchange.answer(&response_nonce), response_nonce, next: 0, salt: *exchange.salt() }
    }

    /// The first piece of a sealed stream: the response nonce, hex.
    pub(crate) fn opening_piece(&self) -> String {
        format!("0x{}", alloy_primitives::hex::encode(self.response_nonce))
    }

    /// The next piece of streamed text, sealed, hex.
    pub(crate) fn piece(&mut self, text: &str) -> String {
        let sealed = self.chunks.seal(self.next, text.as_bytes(), false);
        self.next += 1;
        format!("0x{}", alloy_primitives::hex::encode(sealed))
    }

    /// The claim's input and output commitments.
    pub(crate) fn commitments(
        &self,
        input: &Values,
        output: &Values,
    ) -> (veritas_primitives::B256, veritas_primitives::B256) {
        (commitment(&self.salt, "input", &values_hash(input)), commitment(&self.salt, "output", &values_hash(output)))
    }

    /// The last chunk: the input and output, sealed as final.
    pub(crate) fn finish(&self, input: Values, output: Values) -> NodeResult<SealedAnswer> {
        let opening = serde_json::to_vec(&ConfidentialOpening { input, output })
            .map_err(|err| refused(format!("the answer cannot be written: {err}")))?;
        Ok(SealedAnswer {
            response_nonce: self.response_nonce.to_vec().into(),
            index: self.next,
            last: self.chunks.seal(self.next, &opening, true).into(),
        })
    }
}

/// A confidential claim's parameters: `params` with the scheme and, for a language model, the
/// tokens it produced (which the enclave attests with the claim, and the charge rests on).
pub(crate) fn confidential_params(mut params: Params, tokens: Option<u64>) -> Params {
    params.0.insert("confidential".to_owned(), SCHEME.into());
    if let Some(tokens) = tokens {
        params.0.insert("completion_tokens".to_owned(), tokens.into());
    }
    params
}
