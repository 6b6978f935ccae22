//! Pushes by an operator: uploading a model file to a node (`POST /v1/models?name=…`) carries the
//! publisher's EIP-712 signature over
//! `Push(address to,string target,bytes32 contentSha256,uint64 timestamp,bytes32 nonce)` in the
//! network's claim domain. `to` is the node (its key), `target` the path with its query (the
//! name, format and tolerance), `contentSha256` the file's SHA-256, sent ahead in a header so the
//! node checks the signature before it reads a byte of the body and the digest once it has read
//! them all. The node takes pushes only from the operators it is configured with, each nonce
//! once, for a short while; the first publisher of a name owns it (`veritas-api`, `veritas-hub`).

use alloy_primitives::{Bytes, hex};
use alloy_sol_types::SolStruct;

use crate::{Address, B256, ClaimDomain, PrimitiveError, PrimitiveResult, recover_signer_bytes};

mod typed {
    #![allow(missing_docs)]
    alloy_sol_types::sol! {
        struct Push {
            address to;
            string target;
            bytes32 contentSha256;
            uint64 timestamp;
            bytes32 nonce;
        }
    }
}

/// The header naming the publisher.
pub const PUBLISHER_HEADER: &str = "x-veritas-publisher";
/// The header with the file's SHA-256, hex.
pub const CONTENT_SHA256_HEADER: &str = "x-veritas-content-sha256";
/// The header with the push's Unix time in seconds.
pub const PUSH_TIME_HEADER: &str = "x-veritas-push-time";
/// The header with the push's nonce (32 bytes, hex).
pub const PUSH_NONCE_HEADER: &str = "x-veritas-push-nonce";
/// The header with the publisher's 65-byte signature, hex.
pub const PUSH_SIGNATURE_HEADER: &str = "x-veritas-push-signature";

/// A push as the node sees it.
#[derive(Clone, Copy, Debug)]
pub struct PushTarget<'a> {
    /// The node pushed to: its key.
    pub to: Address,
    /// The path with its query, as sent (`/v1/models?name=iris&format=onnx`).
    pub target: &'a str,
    /// The file's SHA-256.
    pub content_sha256: B256,
}

/// A publisher's signature on a push, as its headers carry it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushEnvelope {
    /// The publisher.
    pub publisher: Address,
    /// The file's SHA-256, as the publisher signed it.
    pub content_sha256: B256,
    /// Unix seconds.
    pub timestamp: u64,
    /// The publisher's nonce.
    pub nonce: B256,
    /// The signature.
    pub signature: Bytes,
}

/// The EIP-712 digest a publisher signs for a push.
pub fn push_digest(domain: &ClaimDomain, target: &PushTarget<'_>, timestamp: u64, nonce: B256) -> B256 {
    let push = typed::Push {
        to: target.to,
        target: target.target.to_owned(),
        contentSha256: target.content_sha256,
        timestamp,
        nonce,
    };
    push.eip712_signing_hash(&domain.eip712())
}

impl PushEnvelope {
    /// Signs a push as `key`.
    #[cfg(feature = "signer")]
    pub fn sign(
        key: &crate::WorkerKey,
        domain: &ClaimDomain,
        target: &PushTarget<'_>,
        timestamp: u64,
        nonce: B256,
    ) -> PrimitiveResult<PushEnvelope> {
        let signature = key.sign_digest(&push_digest(domain, target, timestamp, nonce))?;
        Ok(PushEnvelope {
            publisher: key.address(),
            content_sha256: target.content_sha256,
            timestamp,
            nonce,
            signature: Bytes::from(signature.to_vec()),
        })
    }

    /// The headers that carry the envelope.
    pub fn headers(&self) -> [(&'static str, String); 5] {
        [
            (PUBLISHER_HEADER, self.publisher.to_string()),
            (CONTENT_SHA256_HEADER, hex::encode(self.content_sha256)),
            (PUSH_TIME_HEADER, self.timestamp.to_string()),
            (PUSH_NONCE_HEADER, self.nonce.to_string()),
            (PUSH_SIGNATURE_HEADER, hex::encode_prefixed(&self.signature)),
        ]
    }

    /// The envelope in a request's headers (`header` looks one up by its lowercase name):
    /// `None` when the request carries none of them, an error naming what is wrong when it
    /// carries some.
    pub fn from_headers<'h>(header: impl Fn(&str) -> Option<&'h str>) -> PrimitiveResult<Option<PushEnvelope>> {
        let bad = |what: String| PrimitiveError::Signature(what);
        let names =
            [PUBLISHER_HEADER, CONTENT_SHA256_HEADER, PUSH_TIME_HEADER, PUSH_NONCE_HEADER, PUSH_SIGNATURE_HEADER];
        let values: Vec<Option<&str>> = names.iter().map(|name| header(name)).collect();
        if values.iter().all(Option::is_none) {
            return Ok(None);
        }
        let value =
            |i: usize| values[i].map(str::trim).ok_or_else(|| bad(format!("the push has no {} header", names[i])));
        let publisher = value(0)?.parse().map_err(|_| bad(format!("{PUBLISHER_HEADER} is not an address")))?;
        let content_sha256 =
            value(1)?.parse().map_err(|_| bad(format!("{CONTENT_SHA256_HEADER} must be 32 bytes of hex")))?;
        let timestamp = value(2)?.parse().map_err(|_| bad(format!("{PUSH_TIME_HEADER} must be Unix seconds")))?;
        let nonce = value(3)?.parse().map_err(|_| bad(format!("{PUSH_NONCE_HEADER} must be 32 bytes of hex")))?;
        let signature: Bytes =
            value(4)?.parse().map_err(|_| bad(format!("{PUSH_SIGNATURE_HEADER} must be 65 bytes of hex")))?;
        Ok(Some(PushEnvelope { publisher, content_sha256, timestamp, nonce, signature }))
    }

    /// Checks that the envelope's publisher signed this push (to this node, of this path and
    /// query, of the file it names) in `domain`.
    pub fn verify(&self, domain: &ClaimDomain, to: Address, target: &str) -> PrimitiveResult<()> {
        let push = PushTarget { to, target, content_sha256: self.content_sha256 };
        let signer = recover_signer_bytes(&push_digest(domain, &push, self.timestamp, self.nonce), &self.signature)?;
        if signer != self.publisher {
            return Err(PrimitiveError::Signature(format!(
                "the push is signed by {signer}, not by {} (or for another node, network, name or file)",
                self.publisher
            )));
        }
        Ok(())
    }
}

#[cfg(all(test, feature = "signer"))]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::{WorkerKey, keccak256};

    #[test]
    fn a_push_verifies_for_its_node_name_and_file_only() {
        let key = WorkerKey::from_bytes(&keccak256(b"operator")).unwrap();
        let domain = ClaimDomain { chain_id: 31337, verifying_contract: Address::repeat_byte(5) };
        let node = Address::repeat_byte(9);
        let path = "/v1/models?name=iris&format=onnx";
        let target = PushTarget { to: node, target: path, content_sha256: B256::repeat_byte(1) };
        let envelope = PushEnvelope::sign(&key, &domain, &target, 1_767_225_600, B256::repeat_byte(3)).unwrap();
        envelope.verify(&domain, node, path).unwrap();
        assert!(envelope.verify(&domain, Address::repeat_byte(8), path).is_err(), "another node");
        assert!(envelope.verify(&domain, node, "/v1/models?name=iris2&format=onnx").is_err(), "another name");
        let other = ClaimDomain { chain_id: 1, ..domain };
        assert!(envelope.verify(&other, node, path).is_err(), "another network");
        let other_file = PushEnvelope { content_sha256: B256::repeat_byte(2), ..envelope.clone() };
        assert!(other_file.verify(&domain, node, path).is_err(), "another file");
        let later = PushEnvelope { timestamp: 1_767_225_601, ..envelope.clone() };
        assert!(later.verify(&domain, node, path).is_err(), "the time is signed");

        let headers: HashMap<&str, String> = envelope.headers().into_iter().collect();
        let parsed = PushEnvelope::from_headers(|name| headers.get(name).map(String::as_str)).unwrap().unwrap();
        assert_eq!(parsed, envelope);
        assert_eq!(PushEnvelope::from_headers(|_| None).unwrap(), None);
        let missing =
            PushEnvelope::from_headers(|name| (name != PUSH_NONCE_HEADER).then(|| headers[name].as_str())).unwrap_err();
        assert!(missing.to_string().contains(PUSH_NONCE_HEADER), "{missing}");
    }
}
