//! veritas verifier: decides whether a receipt holds, with no I/O.
//!
//! Architecture invariant: this crate depends only on `veritas-primitives`, reads no files, no
//! network and no clock, so that it can be audited alone and compiled to WebAssembly for the
//! browser.

use veritas_primitives::{
    Address, B256, MerkleProof, Mode, ModelId, PrimitiveError, RECEIPT_VERSION, Receipt, merkle_leaf, recover_signer,
    values,
};

/// Why a receipt does not hold. Each variant names the failed check.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    /// The receipt could not be read.
    #[error("malformed receipt: {0}")]
    Malformed(String),
    /// A receipt version this verifier does not know.
    #[error("unsupported receipt version: expected {expected}, got {got}")]
    Version {
        /// The version this verifier reads.
        expected: u8,
        /// The version found.
        got: u8,
    },
    /// The worker's signature is not a valid canonical secp256k1 signature.
    #[error("worker signature: {0}")]
    Signature(String),
    /// The signature is valid but was made by another key than the claimed worker's.
    #[error("worker signature: signed by {got}, but the claim names worker {expected}")]
    WrongSigner {
        /// The worker the claim names.
        expected: Address,
        /// The address that actually signed.
        got: Address,
    },
    /// A hash in the claim does not match the data carried in the receipt.
    #[error("{what} hash mismatch: the claim says {expected}, the receipt's {what} hashes to {got}")]
    HashMismatch {
        /// Which hash: input, output or params.
        what: &'static str,
        /// The hash in the signed claim.
        expected: B256,
        /// The hash of the data carried.
        got: B256,
    },
    /// The manifest carried does not hash to the claimed model id.
    #[error("model id mismatch: the claim says {expected}, the receipt's manifest hashes to {got}")]
    ModelMismatch {
        /// The model id in the signed claim.
        expected: ModelId,
        /// The id of the manifest carried.
        got: ModelId,
    },
    /// A verdict by a key the validator set does not hold a stake for.
    #[error("verdict {index}: {validator} is not a staked validator in the registry")]
    NotAValidator {
        /// Its position in the receipt.
        index: usize,
        /// The key that signed it.
        validator: Address,
    },
    /// A second verdict by the same validator.
    #[error("verdict {index}: a second verdict by validator {validator}")]
    DuplicateVerdict {
        /// Its position in the receipt.
        index: usize,
        /// The validator.
        validator: Address,
    },
    /// The verdicts that count do not add up to a quorum.
    #[error(
        "no quorum: valid verdicts hold {valid} and invalid ones {invalid} of {total} validator stake; more than 2/3 is needed{}",
        uncounted_note(*uncounted)
    )]
    NoQuorum {
        /// Stake behind "valid".
        valid: String,
        /// Stake behind "invalid".
        invalid: String,
        /// All validator stake.
        total: String,
        /// Verdicts left out: from a check that does not count for the claim's mode, or not signed
        /// by the validator they name.
        uncounted: usize,
    },
    /// A quorum of validators judged the claim invalid.
    #[error("a quorum of validators judged this claim INVALID ({stake} of {total} validator stake)")]
    JudgedInvalid {
        /// Stake behind "invalid".
        stake: String,
        /// All validator stake.
        total: String,
    },
    /// A verdict whose signature does not recover to the validator it names.
    #[error("verdict {index}: signed by {got}, but it names validator {expected}")]
    BadVerdict {
        /// Its position in the receipt.
        index: usize,
        /// The validator it names.
        expected: Address,
        /// Who signed it (zero when the signature is malformed).
        got: Address,
    },
    /// The Merkle path does not lead from the receipt to the batch root.
    #[error("settlement: the Merkle path does not lead from this receipt to batch root {root}")]
    NotInBatch {
        /// The batch root the receipt claims.
        root: B256,
    },
    /// The settlement names another chain or contract than the claim's domain.
    #[error(
        "settlement: recorded on chain {got_chain} contract {got_contract}, but the claim is signed for chain {chain} contract {contract}"
    )]
    SettlementDomain {
        /// The claim's chain.
        chain: u64,
        /// The claim's settlement contract.
        contract: Address,
        /// The settlement's chain.
        got_chain: u64,
        /// The settlement's contract.
        got_contract: Address,
    },
    /// A `tee` claim's evidence does not hold, or evidence that does not fit the claim's mode.
    #[error("{0}")]
    Tee(#[from] tee::TeeError),
    /// A `tee` claim without TEE evidence, or more than one piece of it.
    #[error("tee evidence: {0}")]
    TeeEvidence(String),
    /// A `zk` claim's proof does not verify (or does not decode).
    #[error("zk proof: {0}")]
    Zk(veritas_zk::ZkError),
    /// A `zk` claim without its evidence, proof, key, input or output, or evidence that does not
    /// fit the claim's mode.
    #[error("zk evidence: {0}")]
    ZkEvidence(String),
    /// The caller expected another model than the one claimed.
    #[error("unexpected model: expected {expected}, the receipt is for {got}")]
    UnexpectedModel {
        /// The model the caller asked for.
        expected: ModelId,
        /// The model the receipt claims.
        got: ModelId,
    },
}

/// Result alias of the verifier.
pub type VerifyResult<T> = Result<T, VerifyError>;

impl VerifyError {
    /// The check that failed, by the name [`Check`] gives it (`receipt`, `signature`, `model`,
    /// `input`, `output`, `params`, `verdict`, `quorum`, `batch`, `tee`, `zk`): what a client
    /// library names in its error.
    pub fn check(&self) -> &'static str {
        match self {
            VerifyError::Malformed(_) | VerifyError::Version { .. } => "receipt",
            VerifyError::Signature(_) | VerifyError::WrongSigner { .. } => "signature",
            VerifyError::HashMismatch { what, .. } => what,
            VerifyError::ModelMismatch { .. } | VerifyError::UnexpectedModel { .. } => "model",
            VerifyError::NotAValidator { .. }
            | VerifyError::DuplicateVerdict { .. }
            | VerifyError::BadVerdict { .. } => "verdict",
            VerifyError::NoQuorum { .. } | VerifyError::JudgedInvalid { .. } => "quorum",
            VerifyError::NotInBatch { .. } | VerifyError::SettlementDomain { .. } => "batch",
            VerifyError::Tee(_) | VerifyError::TeeEvidence(_) => "tee",
            VerifyError::Zk(_) | VerifyError::ZkEvidence(_) => "zk",
        }
    }
}

impl From<PrimitiveError> for VerifyError {
    fn from(err: PrimitiveError) -> VerifyError {
        match err {
            PrimitiveError::Version { expected, got } => VerifyError::Version { expected, got },
            other => VerifyError::Malformed(other.to_string()),
        }
    }
}

/// One check the verifier made, for people to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// What was checked.
    pub name: &'static str,
    /// What was found, or why the check was skipped.
    pub detail: String,
    /// False when the data needed for the check was not in the receipt.
    pub performed: bool,
}

/// What a receipt that holds proves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The receipt's id.
    pub receipt_id: B256,
    /// The worker whose signature holds.
    pub worker: Address,
    /// The model claimed.
    pub model_id: ModelId,
    /// The verification mode.
    pub mode: Mode,
    /// Each check, in order.
    pub checks: Vec<Check>,
    /// What a `tee` claim's attestation shows, and under which assumptions.
    pub tee: Option<tee::TeeReport>,
    /// The client nonce a `tee` claim's attestation binds, for the client that sent it to compare.
    pub tee_nonce: Option<Vec<u8>>,
    /// What a `zk` claim's proof shows.
    pub zk: Option<zk::ZkReport>,
    /// Whether the claim is confidential: its input and output sealed to the enclave, the claim
    /// signing only commitments to them.
    pub confidential: bool,
}

impl Report {
    /// The guarantee a receipt of this mode carries, in one sentence.
    pub fn guarantee(&self) -> &'static str {
        guarantee(self.mode)
    }
}

/// The guarantee a receipt of a mode carries once verified, and what it does not say.
pub fn guarantee(mode: Mode) -> &'static str {
    match mode {
        Mode::Signed => {
            "the worker's key signed that this model produced this output from this input; \
             nobody re-executed it, so it holds the worker accountable but does not prove the computation"
        }
        Mode::Reexec => "independent validators re-executed the computation and signed verdicts",
        Mode::Zk => {
            "a proof shows the committed quantized model produced this output from this input; the proof is not \
             zero-knowledge: it reveals the layers' outputs and combinations of the weights"
        }
        Mode::Tee => "a TEE attestation binds this result to an enclave measurement, under the vendor's assumptions",
    }
}

/// What the caller expects of a receipt beyond its own consistency.
#[derive(Clone, Debug, Default)]
pub struct Expectations {
    /// The model the caller asked for.
    pub model_id: Option<ModelId>,
    /// The enclaves the caller accepts for `tee` claims; the default accepts none. Shared, so
    /// that a node checking every claim does not copy it each time.
    pub tee_policy: std::sync::Arc<tee::Policy>,
}

/// The end of [`VerifyError::NoQuorum`]'s message: the verdicts that did not count, if any.
fn uncounted_note(uncounted: usize) -> String {
    match uncounted {
        0 => String::new(),
        n => format!(
            " ({n} verdicts left out: from a check that does not count for this claim's mode, or not signed by the \
             validator named)"
        ),
    }
}

/// Verifies a receipt: its version, the worker's signature over the claim, and every hash in the
/// claim against the data the receipt carries (manifest, inputs, outputs, parameters).
pub fn verify_receipt(receipt: &Receipt, expect: &Expectations) -> VerifyResult<Report> {
    if receipt.version != RECEIPT_VERSION {
        return Err(VerifyError::Version { expected: RECEIPT_VERSION, got: receipt.version });
    }
    let claim = &receipt.claim;
    let receipt_id = receipt.id();
    let signer = recover_signer(&receipt_id, &receipt.signature.0).map_err(|err| match err {
        PrimitiveError::Signature(reason) => VerifyError::Signature(reason),
        other => VerifyError::Signature(other.to_string()),
    })?;
    if signer != claim.worker {
        return Err(VerifyError::WrongSigner { expected: claim.worker, got: signer });
    }
    let mut checks = vec![Check {
        name: "signature",
        detail: format!("EIP-712 claim signed by worker {signer} on chain {}", receipt.domain.chain_id),
        performed: true,
    }];

    if let Some(expected) = expect.model_id
        && expected != claim.model_id
    {
        return Err(VerifyError::UnexpectedModel { expected, got: claim.model_id });
    }
    let body = &receipt.body;
    match &body.manifest {
        Some(manifest) => {
            // Canonical JSON: serde_json's maps are sorted by key and written without whitespace.
            let canonical = serde_json::to_vec(manifest).map_err(|err| VerifyError::Malformed(err.to_string()))?;
            let got = ModelId::of_manifest(&canonical);
            if got != claim.model_id {
                return Err(VerifyError::ModelMismatch { expected: claim.model_id, got });
            }
            checks.push(Check { name: "model", detail: format!("manifest hashes to {got}"), performed: true });
        }
        None => checks.push(Check {
            name: "model",
            detail: "no manifest in the receipt; model id taken as signed".into(),
            performed: false,
        }),
    }
    // A confidential claim signs commitments to its input and output, which it never carries.
    let confidential = body.params.as_ref().is_some_and(confidential::is_confidential);
    let mut hash_check = |what: &'static str, expected: B256, got: Option<B256>| match got {
        Some(got) if got != expected => Err(VerifyError::HashMismatch { what, expected, got }),
        Some(got) => {
            checks.push(Check { name: what, detail: format!("hashes to {got}"), performed: true });
            Ok(())
        }
        None if confidential && what != "params" => {
            checks.push(Check {
                name: what,
                detail: format!("confidential: {expected} commits to it; only the requester can open it"),
                performed: false,
            });
            Ok(())
        }
        None => {
            checks.push(Check {
                name: what,
                detail: format!("not carried; hash {expected} taken as signed"),
                performed: false,
            });
            Ok(())
        }
    };
    hash_check("input", claim.input_hash, body.input.as_ref().map(values::values_hash))?;
    hash_check("output", claim.output_hash, body.output.as_ref().map(values::values_hash))?;
    hash_check("params", claim.params_hash, body.params.as_ref().map(|p| p.hash()))?;
    if confidential {
        if claim.mode != Mode::Tee {
            return Err(VerifyError::TeeEvidence(format!(
                "a confidential claim of mode {}: only a tee claim's attestation can vouch for what nobody else sees",
                claim.mode
            )));
        }
        checks.push(Check {
            name: "confidential",
            detail: "input and output were sealed to the enclave and never disclosed: nobody re-executed this \
                     claim; the enclave's attestation is what vouches for it"
                .into(),
            performed: true,
        });
    }

    for (index, verdict) in receipt.verdicts.iter().enumerate() {
        let got = verdict.signer(&receipt.domain, receipt_id).unwrap_or(Address::ZERO);
        if got != verdict.validator {
            return Err(VerifyError::BadVerdict { index, expected: verdict.validator, got });
        }
        let word = if verdict.valid { "valid" } else { "INVALID" };
        let detail = if verdict.check.counts_for(claim.mode) {
            format!("{word} by a {} check, signed by validator {got}", verdict.check)
        } else {
            format!(
                "{word} by a {} check, signed by validator {got}; not counted: a {} check does not count for a {} claim",
                verdict.check, verdict.check, claim.mode
            )
        };
        checks.push(Check { name: "verdict", detail, performed: true });
    }
    if !receipt.verdicts.is_empty() {
        checks.push(match &body.registry {
            Some(snapshot) => {
                let report = check_quorum(receipt, &snapshot.validators)?;
                Check {
                    name: "quorum",
                    detail: format!(
                        "{}, by the receipt's snapshot of registry {} at block {} (--rpc checks the chain's)",
                        report.describe(receipt),
                        snapshot.registry,
                        snapshot.block
                    ),
                    performed: true,
                }
            }
            None => Check {
                name: "quorum",
                detail: "no registry snapshot in the receipt; --rpc counts the verdicts against the chain's".into(),
                performed: false,
            },
        });
    }
    let (tee, tee_nonce) = check_tee(receipt, &receipt_id, &expect.tee_policy, &mut checks)?.unzip();
    let zk = zk::check(receipt, &mut checks)?;
    match &receipt.settlement {
        Some(settlement) => {
            if settlement.chain_id != receipt.domain.chain_id
                || settlement.contract != receipt.domain.verifying_contract
            {
                return Err(VerifyError::SettlementDomain {
                    chain: receipt.domain.chain_id,
                    contract: receipt.domain.verifying_contract,
                    got_chain: settlement.chain_id,
                    got_contract: settlement.contract,
                });
            }
            let proof = MerkleProof(settlement.merkle_path.clone());
            if !proof.verify(&settlement.batch_root, &merkle_leaf(&receipt_id)) {
                return Err(VerifyError::NotInBatch { root: settlement.batch_root });
            }
            checks.push(Check {
                name: "batch",
                detail: format!(
                    "in batch {} (transaction {}, block {}); whether that batch is on chain needs --rpc",
                    settlement.batch_root, settlement.transaction, settlement.block
                ),
                performed: true,
            });
        }
        None => checks.push(Check { name: "batch", detail: "not settled yet".into(), performed: false }),
    }

    Ok(Report {
        receipt_id,
        worker: signer,
        model_id: claim.model_id,
        mode: claim.mode,
        checks,
        tee,
        tee_nonce,
        zk,
        confidential,
    })
}

/// A `tee` claim carries exactly one piece of TEE evidence, which must hold under the policy at
/// the claim's time and bind this claim; a claim of another mode carries none. Returns what the
/// attestation shows and the nonce it binds.
fn check_tee(
    receipt: &Receipt,
    receipt_id: &B256,
    policy: &tee::Policy,
    checks: &mut Vec<Check>,
) -> VerifyResult<Option<(tee::TeeReport, Vec<u8>)>> {
    let mut found = receipt.evidence.iter().filter_map(tee::TeeEvidence::from_evidence);
    if receipt.claim.mode != Mode::Tee {
        return match found.next() {
            Some(_) => Err(VerifyError::TeeEvidence(format!(
                "TEE evidence on a claim of mode {}; only tee claims carry it",
                receipt.claim.mode
            ))),
            None => Ok(None),
        };
    }
    let evidence = match (found.next(), found.next()) {
        (Some(evidence), None) => evidence?,
        (None, _) => return Err(VerifyError::TeeEvidence("a tee claim without TEE evidence".into())),
        (Some(_), Some(_)) => return Err(VerifyError::TeeEvidence("more than one piece of TEE evidence".into())),
    };
    let report = tee::verify(&evidence, receipt_id, receipt.claim.timestamp, policy)?;
    let measurements: Vec<String> = report.measurements.iter().map(|(name, value)| format!("{name} {value}")).collect();
    checks.push(Check {
        name: "tee",
        detail: format!(
            "{}: the attestation binds this claim and nonce {}; {}",
            report.label(),
            veritas_primitives::hex::encode(&evidence.nonce),
            measurements.join(", ")
        ),
        performed: true,
    });
    Ok(Some((report, evidence.nonce)))
}

/// Parses a receipt's JSON form and verifies it.
pub fn verify_receipt_json(json: &[u8], expect: &Expectations) -> VerifyResult<Report> {
    let receipt: Receipt = serde_json::from_slice(json).map_err(|err| VerifyError::Malformed(err.to_string()))?;
    verify_receipt(&receipt, expect)
}

/// Decodes a receipt's canonical binary form and verifies it.
pub fn verify_receipt_bytes(bytes: &[u8], expect: &Expectations) -> VerifyResult<Report> {
    verify_receipt(&Receipt::from_canonical_bytes(bytes)?, expect)
}

mod badge;
pub mod confidential;
mod quorum;
pub mod tee;
pub mod zk;
pub use badge::{Badge, badge, describe_json};
pub use quorum::{QuorumReport, check_batch, check_quorum, tokens, verdict_counts, verdict_quorum};
pub use veritas_primitives::{RegistrySnapshot, ValidatorSet};

#[cfg(test)]
mod tests;
