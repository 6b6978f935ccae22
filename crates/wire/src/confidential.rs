//! Confidential requests as they cross the wire (docs/tee.md, "Confidential requests"): an
//! enclave's attested key offer, a request sealed to it, and the sealed answer. The gateway and
//! everything else outside the enclave see only these; the plaintext types are what travels
//! inside the seal.

use alloy_primitives::Bytes;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use veritas_primitives::{Address, Evidence, Values};

/// A client's request for an enclave's key (`POST /v1/confidential/key`).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyRequest {
    /// A fresh nonce (hex, at most 64 bytes) that the attestation must bind with the key, so
    /// that an old offer cannot be replayed.
    pub nonce: String,
}

/// An enclave's key offer: its RFC 9458 key configuration and the TEE evidence that binds it
/// with the client's nonce (`SHA-512("veritas/tee-key/v1" ‖ key configuration ‖ nonce)`).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyOffer {
    /// The inference node whose enclave holds the key: requests sealed to it go to it.
    #[schema(value_type = crate::schema::Address)]
    pub worker: Address,
    /// The key configuration (RFC 9458 §3: key id, KEM, public key, symmetric suites), hex.
    #[schema(value_type = crate::schema::Bytes)]
    pub key_config: Bytes,
    /// The evidence, in the receipt's form: `tee-nitro`, `tee-tdx` or `tee-simulated`, its nonce
    /// the client's.
    #[schema(value_type = Object)]
    pub evidence: Evidence,
}

/// A request sealed to an enclave's key: `POST /v1/infer`'s `sealed`, the chat endpoints'
/// `veritas_sealed`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SealedRequest {
    /// The inference node whose key sealed it (from its [`KeyOffer`]).
    #[schema(value_type = crate::schema::Address)]
    pub worker: Address,
    /// The encapsulated request (RFC 9458 §4.3: key id, KEM, KDF, AEAD, `enc`, ciphertext), hex;
    /// inside, a [`ConfidentialInput`] as JSON.
    #[schema(value_type = crate::schema::Bytes)]
    pub request: Bytes,
}

/// What a sealed request holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfidentialInput {
    /// The model id the client means: the enclave refuses to run another.
    pub model: String,
    /// The inputs (`/v1/infer`'s `input`), or the chat's `{"messages": […]}` / `{"prompt": "…"}`.
    pub input: serde_json::Value,
    /// When the client sealed it (Unix seconds): the enclave refuses a request sealed more than
    /// [`SEALED_WINDOW`] seconds from its clock, and serves each sealed request once.
    pub time: u64,
}

/// How far from the enclave's clock a sealed request's time may be (seconds).
pub const SEALED_WINDOW: u64 = 300;

/// A sealed answer: the response nonce and the last chunk, which opens to a
/// [`ConfidentialOpening`]. A streamed answer's text chunks came before it, indices `0..index`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SealedAnswer {
    /// The response nonce (32 bytes), hex.
    #[schema(value_type = crate::schema::Bytes)]
    pub response_nonce: Bytes,
    /// The last chunk's index.
    pub index: u64,
    /// The last chunk, sealed as final, hex.
    #[schema(value_type = crate::schema::Bytes)]
    pub last: Bytes,
}

/// What the last chunk of a sealed answer holds: the claim's input and output, whose
/// commitments the receipt signs.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfidentialOpening {
    /// The claim's input (a chat's messages and rendered prompt).
    pub input: Values,
    /// The claim's output (a chat's text and token ids).
    pub output: Values,
}
