//! Calls between roles: a gateway's request to an inference node (work) or a validator (a
//! verdict, a batch signature) carries the gateway's EIP-712 signature over
//! `Call(address to,string method,string path,bytes32 bodyHash,uint64 timestamp,bytes32 nonce)`
//! in the network's claim domain. `to` is the node asked (its registered key), so a call cannot
//! be sent to another node; the body's keccak-256, the time and a nonce the gateway chose make
//! each call usable once, for what it says, for a short while. The callee checks the signature,
//! that the signer is a registered gateway, the time and the nonce (`veritas-api`).

use alloy_primitives::{Bytes, hex};
use alloy_sol_types::SolStruct;

use crate::{Address, B256, ClaimDomain, PrimitiveError, PrimitiveResult, keccak256, recover_signer_bytes};

mod typed {
    #![allow(missing_docs)]
    alloy_sol_types::sol! {
        struct Call {
            address to;
            string method;
            string path;
            bytes32 bodyHash;
            uint64 timestamp;
            bytes32 nonce;
        }
    }
}

/// The header naming the calling gateway.
pub const GATEWAY_HEADER: &str = "x-veritas-gateway";
/// The header with the call's Unix time in seconds.
pub const CALL_TIME_HEADER: &str = "x-veritas-call-time";
/// The header with the call's nonce (32 bytes, hex).
pub const CALL_NONCE_HEADER: &str = "x-veritas-call-nonce";
/// The header with the gateway's 65-byte signature, hex.
pub const CALL_SIGNATURE_HEADER: &str = "x-veritas-call-signature";

/// One call as the callee sees it: whom it is for and what it asks.
#[derive(Clone, Copy, Debug)]
pub struct CallTarget<'a> {
    /// The node asked: its registered key.
    pub to: Address,
    /// The method (`POST`).
    pub method: &'a str,
    /// The path, without the query.
    pub path: &'a str,
    /// The body's bytes.
    pub body: &'a [u8],
}

/// A gateway's signature on a call, as its headers carry it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallEnvelope {
    /// The gateway that signed.
    pub gateway: Address,
    /// Unix seconds.
    pub timestamp: u64,
    /// The gateway's nonce.
    pub nonce: B256,
    /// The signature.
    pub signature: Bytes,
}

/// The EIP-712 digest a gateway signs for a call.
pub fn call_digest(domain: &ClaimDomain, target: &CallTarget<'_>, timestamp: u64, nonce: B256) -> B256 {
    let call = typed::Call {
        to: target.to,
        method: target.method.to_owned(),
        path: target.path.to_owned(),
        bodyHash: keccak256(target.body),
        timestamp,
        nonce,
    };
    call.eip712_signing_hash(&domain.eip712())
}

impl CallEnvelope {
    /// Signs a call as `key` (a gateway).
    #[cfg(feature = "signer")]
    pub fn sign(
        key: &crate::WorkerKey,
        domain: &ClaimDomain,
        target: &CallTarget<'_>,
        timestamp: u64,
        nonce: B256,
    ) -> PrimitiveResult<CallEnvelope> {
        let signature = key.sign_digest(&call_digest(domain, target, timestamp, nonce))?;
        Ok(CallEnvelope { gateway: key.address(), timestamp, nonce, signature: Bytes::from(signature.to_vec()) })
    }

    /// The headers that carry the envelope.
    pub fn headers(&self) -> [(&'static str, String); 4] {
        [
            (GATEWAY_HEADER, self.gateway.to_string()),
            (CALL_TIME_HEADER, self.timestamp.to_string()),
            (CALL_NONCE_HEADER, self.nonce.to_string()),
            (CALL_SIGNATURE_HEADER, hex::encode_prefixed(&self.signature)),
        ]
    }

    /// The envelope in a request's headers (`header` looks one up by its lowercase name):
    /// `None` when the request carries none of them, an error naming what is wrong when it
    /// carries some.
    pub fn from_headers<'h>(header: impl Fn(&str) -> Option<&'h str>) -> PrimitiveResult<Option<CallEnvelope>> {
        let bad = |what: String| PrimitiveError::Signature(what);
        let names = [GATEWAY_HEADER, CALL_TIME_HEADER, CALL_NONCE_HEADER, CALL_SIGNATURE_HEADER];
        let values: Vec<Option<&str>> = names.iter().map(|name| header(name)).collect();
        if values.iter().all(Option::is_none) {
            return Ok(None);
        }
        let value =
            |i: usize| values[i].map(str::trim).ok_or_else(|| bad(format!("the call has no {} header", names[i])));
        let gateway = value(0)?.parse().map_err(|_| bad(format!("{GATEWAY_HEADER} is not an address")))?;
        let timestamp = value(1)?.parse().map_err(|_| bad(format!("{CALL_TIME_HEADER} must be Unix seconds")))?;
        let nonce = value(2)?.parse().map_err(|_| bad(format!("{CALL_NONCE_HEADER} must be 32 bytes of hex")))?;
        let signature: Bytes =
            value(3)?.parse().map_err(|_| bad(format!("{CALL_SIGNATURE_HEADER} must be 65 bytes of hex")))?;
        Ok(Some(CallEnvelope { gateway, timestamp, nonce, signature }))
    }

    /// Checks that the envelope's gateway signed this call in `domain`.
    pub fn verify(&self, domain: &ClaimDomain, target: &CallTarget<'_>) -> PrimitiveResult<()> {
        let digest = call_digest(domain, target, self.timestamp, self.nonce);
        let signer = recover_signer_bytes(&digest, &self.signature)?;
        if signer != self.gateway {
            return Err(PrimitiveError::Signature(format!(
                "the call is signed by {signer}, not by {} (or for another node, network, path or body)",
                self.gateway
            )));
        }
        Ok(())
    }
}

#[cfg(all(test, feature = "signer"))]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::WorkerKey;

    #[test]
    fn a_call_verifies_for_what_it_says_and_nothing_else() {
        let gateway = WorkerKey::from_bytes(&keccak256(b"gateway")).unwrap();
        let domain = ClaimDomain { chain_id: 31337, verifying_contract: Address::repeat_byte(5) };
        let target = CallTarget { to: Address::repeat_byte(9), method: "POST", path: "/v1/verdicts", body: b"{}" };
        let nonce = B256::repeat_byte(3);
        let envelope = CallEnvelope::sign(&gateway, &domain, &target, 1_767_225_600, nonce).unwrap();
        envelope.verify(&domain, &target).unwrap();
        let other_domain = ClaimDomain { chain_id: 1, ..domain };
        for (domain, target) in [
            (domain, CallTarget { to: Address::repeat_byte(8), ..target }),
            (domain, CallTarget { path: "/v1/batches/sign", ..target }),
            (domain, CallTarget { method: "GET", ..target }),
            (domain, CallTarget { body: b"{ }", ..target }),
            (other_domain, target),
        ] {
            let err = envelope.verify(&domain, &target).unwrap_err().to_string();
            assert!(err.contains("not by"), "{err}");
        }
        let later = CallEnvelope { timestamp: 1_767_225_601, ..envelope.clone() };
        assert!(later.verify(&domain, &target).is_err(), "the time is signed");
        let renonced = CallEnvelope { nonce: B256::repeat_byte(4), ..envelope.clone() };
        assert!(renonced.verify(&domain, &target).is_err(), "the nonce is signed");

        // Through headers and back.
        let headers: HashMap<&str, String> = envelope.headers().into_iter().collect();
        let parsed = CallEnvelope::from_headers(|name| headers.get(name).map(String::as_str)).unwrap().unwrap();
        assert_eq!(parsed, envelope);
        assert_eq!(CallEnvelope::from_headers(|_| None).unwrap(), None);
        let partial = CallEnvelope::from_headers(|name| (name == GATEWAY_HEADER).then_some("0x00")).unwrap_err();
        assert!(partial.to_string().contains("not an address") || partial.to_string().contains("no "), "{partial}");
        let missing =
            CallEnvelope::from_headers(|name| (name != CALL_NONCE_HEADER).then(|| headers[name].as_str())).unwrap_err();
        assert!(missing.to_string().contains(CALL_NONCE_HEADER), "{missing}");
    }
}
