//! The client's side of confidential requests (`--confidential`): the enclave's key offer
//! checked under the client's TEE policy before anything is sealed, the request sealed to that
//! key, and the sealed answer opened and checked against the receipt's commitments.

use std::path::Path;

use anyhow::Context;
use veritas_node::wire::{ConfidentialOpening, KeyOffer, KeyRequest, SealedAnswer, SealedRequest};
use veritas_primitives::{Address, B256, Receipt, hex};
use veritas_verifier::{
    Expectations,
    confidential::{self, AnswerReader, KeyConfig},
    tee::{Policy, TeeEvidence, TeeReport},
    verify_receipt,
};

use crate::client::{Client, ClientError};

/// An enclave whose key offer held under the client's policy.
pub(crate) struct Enclave {
    /// The inference node whose enclave holds the key.
    pub worker: Address,
    config: KeyConfig,
    /// What its attestation shows.
    pub report: TeeReport,
    /// The policy it held under, which its receipts are checked by too.
    pub policy: std::sync::Arc<Policy>,
}

/// The policy a confidential client checks enclaves by: its own (`--tee-policy FILE`), or else
/// the one the network publishes, said out loud, since trusting it trusts the network.
pub(crate) async fn client_policy(client: &Client, file: Option<&Path>) -> anyhow::Result<Policy> {
    if let Some(file) = file {
        return crate::receipts::read_tee_policy(file);
    }
    let published: veritas_node::wire::TeePolicyInfo = client.get("/v1/tee/policy").await?;
    eprintln!(
        "note: checking the enclave by the policy the network publishes; pin your own with --tee-policy FILE \
         (a network that published a policy for its own enclave would be trusted)"
    );
    Ok(published.policy)
}

/// Asks the network for an enclave's key and checks the offer under `policy` before anything is
/// sealed: the attestation holds now, answers this fresh nonce, and binds the offered key.
pub(crate) async fn attested_enclave(client: &Client, policy: Policy) -> anyhow::Result<Enclave> {
    let nonce = B256::random();
    let (offer, _): (KeyOffer, _) =
        client.post("/v1/confidential/key", &KeyRequest { nonce: hex::encode(nonce) }).await?;
    let refused = |reason: String| ClientError::Invalid { reason: format!("the enclave's key offer: {reason}") };
    let evidence = TeeEvidence::from_evidence(&offer.evidence)
        .ok_or_else(|| refused(format!("evidence of kind {:?} is not TEE evidence", offer.evidence.kind)))?
        .map_err(|err| refused(err.to_string()))?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (report, config) = confidential::check_key_offer(
        &offer.key_config,
        &evidence.attestation,
        &evidence.nonce,
        &nonce.0,
        &policy,
        now,
    )
    .map_err(|err| refused(err.to_string()))?;
    if report.insecure {
        eprintln!(
            "!! UNTRUSTED / SIMULATED enclave: its key is the node's own, and nothing stops the node from reading \
             what is sealed to it. For development only."
        );
    } else {
        eprintln!("confidential: sealing to a {} whose attestation holds under your policy", report.label());
    }
    Ok(Enclave { worker: offer.worker, config, report, policy: policy.into() })
}

impl Enclave {
    /// Seals `{"model": model id, "input": input, "time": now}` to the enclave.
    pub(crate) fn seal(
        &self,
        model: &veritas_primitives::ModelId,
        input: serde_json::Value,
    ) -> anyhow::Result<(SealedRequest, AnswerReader)> {
        let time = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let sealed = veritas_node::wire::ConfidentialInput { model: model.to_string(), input, time };
        let plaintext = serde_json::to_vec(&sealed)?;
        let (request, exchange) = confidential::seal_request(&self.config, &plaintext, B256::random().0)?;
        Ok((SealedRequest { worker: self.worker, request: request.into() }, AnswerReader::new(exchange)))
    }
}

/// The text of a streamed piece of a sealed answer (hex); empty for the response nonce that
/// opens the stream.
pub(crate) fn open_piece(reader: &mut AnswerReader, piece: &str) -> anyhow::Result<String> {
    let bytes = hex::decode(piece.trim_start_matches("0x")).context("a sealed piece that is not hex")?;
    String::from_utf8(reader.piece(&bytes)?).context("a sealed piece that is not text")
}

/// Checks a confidential answer: the receipt holds under the client's policy, is confidential,
/// and its attestation binds this very sealed request; the sealed answer opens (its last chunk
/// right after the pieces `reader` read, when `streamed`) and its input and output are the
/// claim's commitments. Returns the opening.
pub(crate) fn check_answer(
    enclave: &Enclave,
    receipt: &Receipt,
    sealed: &SealedRequest,
    reader: &AnswerReader,
    answer: &SealedAnswer,
    streamed: bool,
    model_id: &veritas_primitives::ModelId,
) -> anyhow::Result<ConfidentialOpening> {
    let invalid = |reason: String| anyhow::Error::from(ClientError::Invalid { reason });
    let report =
        verify_receipt(receipt, &Expectations { model_id: Some(*model_id), tee_policy: enclave.policy.clone() })
            .map_err(|err| invalid(format!("its receipt does not hold: {err}")))?;
    if !report.confidential || receipt.claim.worker != enclave.worker {
        return Err(invalid(
            "the receipt is not a confidential claim of the enclave this request was sealed to".into(),
        ));
    }
    if report.tee_nonce.as_deref() != Some(confidential::request_nonce(&sealed.request).as_slice()) {
        return Err(invalid("the receipt's attestation does not bind the request this client sealed".into()));
    }
    let last = reader.last(&answer.response_nonce, answer.index, &answer.last, streamed)?;
    let opening: ConfidentialOpening =
        serde_json::from_slice(&last).map_err(|err| invalid(format!("the sealed answer's last chunk: {err}")))?;
    confidential::check_opening(&receipt.claim, reader.exchange().salt(), &opening.input, &opening.output)?;
    Ok(opening)
}
