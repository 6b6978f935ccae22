//! How the document describes types this crate does not own (the receipt, manifests, values,
//! the chain's words and numbers): each named here once, used by `#[schema(value_type = …)]`.
//! The receipt's own format is docs/receipt.md; these say what a client needs to read it.

#![allow(dead_code, reason = "the types exist to be named in the OpenAPI document")]

use utoipa::ToSchema;

/// A 32-byte value as `0x`-prefixed hex (a receipt id, a hash, a transaction).
#[derive(ToSchema)]
#[schema(value_type = String, example = "0x5b1e…")]
pub struct Hash32(String);

/// A 20-byte address as `0x`-prefixed hex (EIP-55 checksummed when written by the node).
#[derive(ToSchema)]
#[schema(value_type = String)]
pub struct Address(String);

/// A 256-bit amount in the token's smallest unit, as `0x`-prefixed hex.
#[derive(ToSchema)]
#[schema(value_type = String)]
pub struct Amount(String);

/// A model id: the SHA-256 of a version's canonical manifest, as CIDv1 (`bagaaiera…`).
#[derive(ToSchema)]
#[schema(value_type = String)]
pub struct ModelId(String);

/// A signature or other bytes, as `0x`-prefixed hex.
#[derive(ToSchema)]
#[schema(value_type = String)]
pub struct Bytes(String);

/// How a claim is checked.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum Mode {
    /// The worker's signature only.
    Signed,
    /// Validators re-execute it.
    Reexec,
    /// A zero-knowledge proof of a quantized model's run.
    Zk,
    /// A TEE attestation.
    Tee,
}

/// What a validator did to judge a claim: `signed` (signature, hashes, registration),
/// `reexec` (the computation run again), `zk` (the proof), `tee` (the attestation).
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum Check {
    /// The receipt's own consistency and the worker's registration.
    Signed,
    /// The computation run again.
    Reexec,
    /// The claim's proof.
    Zk,
    /// The claim's attestation.
    Tee,
}

/// A model's file format.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum ModelFormat {
    /// An ONNX graph.
    Onnx,
    /// A GGUF language model.
    Gguf,
    /// A quantized network.
    Quantized,
}

/// A receipt (docs/receipt.md): the signed claim, its evidence, verdicts and settlement, and a
/// body with the manifest, inputs, outputs and parameters it covers.
#[derive(ToSchema)]
pub struct Receipt {
    /// The receipt format's version.
    version: u8,
    /// The EIP-712 domain the claim is signed in: `{"chain_id", "verifying_contract"}`.
    #[schema(value_type = Object)]
    domain: serde_json::Value,
    /// What ran, on what, giving what, in which mode, by which worker.
    #[schema(value_type = Object)]
    claim: serde_json::Value,
    /// The worker's secp256k1 signature of the claim's EIP-712 digest, hex.
    signature: String,
    /// A mode's evidence (a TEE attestation, a zk proof's digest).
    #[schema(value_type = Vec<Object>)]
    evidence: serde_json::Value,
    /// Validators' signed verdicts.
    #[schema(value_type = Vec<Object>)]
    verdicts: serde_json::Value,
    /// Where its batch was recorded on chain; null until settled.
    #[schema(value_type = Option<Object>)]
    settlement: serde_json::Value,
    /// What the claim covers, for offline checks.
    #[schema(value_type = Object)]
    body: serde_json::Value,
}

/// A model version.
#[derive(ToSchema)]
pub struct ModelVersion {
    /// Its name.
    name: String,
    /// Its number, from 1.
    version: u64,
    /// Its model id.
    #[schema(value_type = ModelId)]
    id: String,
    /// Its manifest.
    #[schema(value_type = Manifest)]
    manifest: serde_json::Value,
}

/// A model version's manifest: format, files (SHA-256, size), schema, metadata, tolerance, the
/// `zk` entry; its canonical JSON hashes to the model id.
#[derive(ToSchema)]
#[schema(value_type = Object)]
pub struct Manifest(());

/// Named tensors: `{"name": {"dtype", "shape", "data"}}`, or nested arrays typed by the
/// model's schema in requests.
#[derive(ToSchema)]
#[schema(value_type = Object)]
pub struct Values(());

/// A validator's signed verdict: `{"validator", "valid", "check", "signature"}`.
#[derive(ToSchema)]
#[schema(value_type = Object)]
pub struct Verdict(());

/// One message of a conversation.
#[derive(ToSchema)]
pub struct Message {
    /// `system`, `user` or `assistant`.
    role: String,
    /// Its text.
    content: String,
}
