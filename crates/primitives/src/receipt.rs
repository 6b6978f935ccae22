//! The receipt: a signed claim plus the evidence, verdicts and settlement that later stages add.
//!
//! Two forms: JSON for people (serde), and a canonical binary form — a version byte followed by
//! the Solidity ABI encoding of `Receipt` below — that is hashed and that a contract can decode.
//! Decoding is strict: re-encoding the decoded receipt must give back the very same bytes.

use alloy_primitives::{Bytes, FixedBytes};
use alloy_sol_types::SolValue;
use serde::{Deserialize, Serialize};

use crate::{
    Address, B256, Check, Claim, ClaimDomain, ModelId, Params, PrimitiveError, PrimitiveResult, RegistrySnapshot,
    SignedClaim, Values, abi, keccak256,
};

/// The receipt version this build writes and reads: 2, whose verdicts name their check
/// (version 1's did not, and are refused).
pub const RECEIPT_VERSION: u8 = 2;

/// Evidence for the claim's mode (a proof, an attestation); empty for `signed` claims.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    /// What kind of evidence this is.
    pub kind: String,
    /// The evidence bytes, or a hub address and hash when large.
    pub data: Bytes,
}

/// A validator's signed verdict on a claim.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verdict {
    /// The validator's address.
    pub validator: Address,
    /// Whether the validator found the claim valid.
    pub valid: bool,
    /// What the validator did to judge the claim; the verdict counts only if this check counts
    /// for the claim's mode ([`Check::counts_for`]).
    pub check: Check,
    /// The validator's signature over [`crate::verdict::verdict_digest`] with this outcome and check.
    pub signature: Bytes,
}

/// Where and how the claim was settled on chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settlement {
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// The settlement contract.
    pub contract: Address,
    /// Merkle root of the settled batch.
    pub batch_root: B256,
    /// Siblings from the claim's leaf up to the root.
    pub merkle_path: Vec<B256>,
    /// The settling transaction.
    pub transaction: B256,
    /// The block that holds it.
    pub block: u64,
}

/// What a receipt may carry besides its hashed core, so that a reader can check the hashes
/// without asking anybody: the model's manifest and name, the inputs, outputs and parameters.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptBody {
    /// The model's name in the hub that served it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_name: Option<String>,
    /// The model version number in that hub.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_version: Option<u64>,
    /// The model's manifest, whose canonical JSON hashes to the model id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<serde_json::Value>,
    /// The inputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Values>,
    /// The outputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Values>,
    /// The parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Params>,
    /// The validator stakes the verdicts' quorum was counted against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<RegistrySnapshot>,
    /// A `zk` claim's proof, whose SHA-256 its evidence carries (the hub stores it too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zk_proof: Option<Bytes>,
}

/// A receipt; see the module docs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    /// Format version, [`RECEIPT_VERSION`].
    pub version: u8,
    /// The EIP-712 domain of the claim's signature.
    pub domain: ClaimDomain,
    /// What the worker claims.
    pub claim: Claim,
    /// The worker's signature over the claim.
    pub signature: FixedBytes<65>,
    /// Evidence for the claim's mode.
    #[serde(default)]
    pub evidence: Vec<Evidence>,
    /// Validators' verdicts.
    #[serde(default)]
    pub verdicts: Vec<Verdict>,
    /// Settlement on chain, once settled.
    #[serde(default)]
    pub settlement: Option<Settlement>,
    /// Data that lets a reader check the claim's hashes; not part of the canonical form.
    #[serde(default, skip_serializing_if = "is_empty_body")]
    pub body: ReceiptBody,
}

fn is_empty_body(body: &ReceiptBody) -> bool {
    *body == ReceiptBody::default()
}

impl Receipt {
    /// A new receipt for a signed claim, with nothing checked or settled yet.
    pub fn new(domain: ClaimDomain, signed: SignedClaim) -> Receipt {
        Receipt {
            version: RECEIPT_VERSION,
            domain,
            claim: signed.claim,
            signature: FixedBytes(signed.signature),
            evidence: Vec::new(),
            verdicts: Vec::new(),
            settlement: None,
            body: ReceiptBody::default(),
        }
    }

    /// The receipt's id: the claim's EIP-712 digest, stable as verdicts and settlement are added.
    pub fn id(&self) -> B256 {
        self.claim.signing_hash(&self.domain)
    }

    /// The model id claimed.
    pub fn model_id(&self) -> ModelId {
        self.claim.model_id
    }

    fn to_abi(&self) -> abi::Receipt {
        abi::Receipt {
            chainId: self.domain.chain_id,
            verifyingContract: self.domain.verifying_contract,
            claim: self.claim.typed(),
            signature: Bytes::copy_from_slice(self.signature.as_slice()),
            evidence: self
                .evidence
                .iter()
                .map(|e| abi::Evidence { kind: e.kind.clone(), data: e.data.clone() })
                .collect(),
            verdicts: self
                .verdicts
                .iter()
                .map(|v| abi::Verdict {
                    validator: v.validator,
                    valid: v.valid,
                    check: v.check.code(),
                    signature: v.signature.clone(),
                })
                .collect(),
            settlement: self
                .settlement
                .iter()
                .map(|s| abi::Settlement {
                    chainId: s.chain_id,
                    contractAddress: s.contract,
                    batchRoot: s.batch_root,
                    merklePath: s.merkle_path.clone(),
                    transaction: s.transaction,
                    blockNumber: s.block,
                })
                .collect(),
        }
    }

    /// The canonical binary form: the version byte, then the ABI encoding.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = vec![self.version];
        out.extend_from_slice(&self.to_abi().abi_encode());
        out
    }

    /// Keccak-256 of the canonical binary form.
    pub fn hash(&self) -> B256 {
        keccak256(self.canonical_bytes())
    }

    /// Decodes the canonical binary form, strictly: any bytes that would not be written back
    /// exactly are refused.
    pub fn from_canonical_bytes(bytes: &[u8]) -> PrimitiveResult<Receipt> {
        let decode_err = |reason: String| PrimitiveError::Decode { what: "receipt", reason };
        let (&version, rest) = bytes.split_first().ok_or_else(|| decode_err("empty input".into()))?;
        if version != RECEIPT_VERSION {
            return Err(PrimitiveError::Version { expected: RECEIPT_VERSION, got: version });
        }
        let decoded = abi::Receipt::abi_decode(rest).map_err(|err| decode_err(err.to_string()))?;
        let signature: [u8; 65] = decoded
            .signature
            .as_ref()
            .try_into()
            .map_err(|_| decode_err(format!("signature must be 65 bytes, got {}", decoded.signature.len())))?;
        let receipt = Receipt {
            version,
            domain: ClaimDomain { chain_id: decoded.chainId, verifying_contract: decoded.verifyingContract },
            claim: Claim::from_typed(&decoded.claim)?,
            signature: FixedBytes(signature),
            evidence: decoded.evidence.into_iter().map(|e| Evidence { kind: e.kind, data: e.data }).collect(),
            verdicts: decoded
                .verdicts
                .into_iter()
                .map(|v| {
                    Ok(Verdict {
                        validator: v.validator,
                        valid: v.valid,
                        check: Check::from_code(v.check)?,
                        signature: v.signature,
                    })
                })
                .collect::<PrimitiveResult<_>>()?,
            settlement: match decoded.settlement.len() {
                0 => None,
                1 => decoded.settlement.into_iter().next().map(|s| Settlement {
                    chain_id: s.chainId,
                    contract: s.contractAddress,
                    batch_root: s.batchRoot,
                    merkle_path: s.merklePath,
                    transaction: s.transaction,
                    block: s.blockNumber,
                }),
                n => return Err(decode_err(format!("at most one settlement, got {n}"))),
            },
            body: ReceiptBody::default(),
        };
        if receipt.canonical_bytes() != bytes {
            return Err(decode_err("not in canonical form".into()));
        }
        Ok(receipt)
    }

    /// The signed claim inside.
    pub fn signed_claim(&self) -> SignedClaim {
        SignedClaim { claim: self.claim.clone(), signature: self.signature.0 }
    }
}

#[cfg(test)]
mod tests;
