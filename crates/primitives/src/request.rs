//! Signed API requests: an account proves it pays for a request by signing, with EIP-191
//! (`personal_sign`, what every wallet offers), a message naming the request.
//!
//! The message is seven lines: `veritas request`, `chain {id}` and `gateway {address}` (the
//! network and the gateway the signature is for, so that it is worth nothing on another chain or
//! to another gateway), the method and path, the Unix time in seconds, a nonce the signer chose
//! (16 to 64 hex digits; the gateway accepts each account's nonce once, and remembers it on disk
//! for as long as its time is acceptable), and the hex SHA-256 of the body:
//!
//! ```text
//! veritas request
//! chain 31337
//! gateway 0x70997970C51812dc3A010C7d01b50e0d17dc79C8
//! POST /v1/infer
//! 1767225600
//! 9f86d081884c7d659a2feaa0c55ad015
//! 44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a
//! ```

use alloy_primitives::{Address, B256, eip191_hash_message, hex};
use sha2::{Digest, Sha256};

use crate::{PrimitiveError, PrimitiveResult, recover_signer};

/// The header naming the paying account.
pub const ACCOUNT_HEADER: &str = "x-veritas-account";
/// The header with the signature's Unix time in seconds.
pub const TIMESTAMP_HEADER: &str = "x-veritas-timestamp";
/// The header with the signer's nonce: 16 to 64 hex digits, used once.
pub const NONCE_HEADER: &str = "x-veritas-nonce";
/// The header with the 65-byte signature, hex.
pub const SIGNATURE_HEADER: &str = "x-veritas-signature";

/// What a signed request is for: the chain and the gateway that may accept it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestScope {
    /// The chain id of the network.
    pub chain_id: u64,
    /// The gateway's address (its key, as `GET /v1/network` names it).
    pub gateway: Address,
}

/// One signed request, as its headers and the request itself name it.
#[derive(Clone, Copy, Debug)]
pub struct SignedRequest<'a> {
    /// The method (`POST`).
    pub method: &'a str,
    /// The path, without the query.
    pub path: &'a str,
    /// Unix seconds.
    pub timestamp: u64,
    /// The signer's nonce.
    pub nonce: &'a str,
    /// The body's bytes.
    pub body: &'a [u8],
}

/// Checks a nonce: 16 to 64 hex digits.
pub fn check_nonce(nonce: &str) -> PrimitiveResult<()> {
    let ok = (16..=64).contains(&nonce.len()) && nonce.bytes().all(|b| b.is_ascii_hexdigit());
    if !ok {
        return Err(PrimitiveError::Signature(format!(
            "the nonce must be 16 to 64 hex digits, got {} characters",
            nonce.len()
        )));
    }
    Ok(())
}

/// The message an account signs for a request.
pub fn request_message(scope: &RequestScope, request: &SignedRequest<'_>) -> String {
    format!(
        "veritas request\nchain {}\ngateway {}\n{} {}\n{}\n{}\n{}",
        scope.chain_id,
        scope.gateway,
        request.method,
        request.path,
        request.timestamp,
        request.nonce,
        hex::encode(Sha256::digest(request.body))
    )
}

/// The EIP-191 digest of [`request_message`].
pub fn request_digest(scope: &RequestScope, request: &SignedRequest<'_>) -> B256 {
    eip191_hash_message(request_message(scope, request))
}

/// Checks that `signature` (hex) over the request, for `scope`, was made by `account`.
pub fn verify_request(
    account: Address,
    signature: &str,
    scope: &RequestScope,
    request: &SignedRequest<'_>,
) -> PrimitiveResult<()> {
    check_nonce(request.nonce)?;
    let bytes = hex::decode(signature.trim())
        .map_err(|err| PrimitiveError::Signature(format!("the signature is not hex: {err}")))?;
    let bytes: [u8; 65] = bytes
        .try_into()
        .map_err(|bytes: Vec<u8>| PrimitiveError::Signature(format!("{} bytes, expected 65", bytes.len())))?;
    let signer = recover_signer(&request_digest(scope, request), &bytes)?;
    if signer != account {
        return Err(PrimitiveError::Signature(format!(
            "signed by {signer}, not by {account} (or for another chain, gateway, request or nonce)"
        )));
    }
    Ok(())
}

#[cfg(all(test, feature = "signer"))]
mod tests {
    use super::*;
    use crate::WorkerKey;

    #[test]
    fn a_signed_request_verifies_and_any_change_fails() {
        let key = WorkerKey::from_bytes(&crate::keccak256(b"account")).unwrap();
        let scope = RequestScope { chain_id: 31337, gateway: Address::repeat_byte(7) };
        let nonce = "00112233445566778899aabbccddeeff";
        let request = SignedRequest { method: "POST", path: "/v1/infer", timestamp: 1_767_225_600, nonce, body: b"{}" };
        let signature = hex::encode(key.sign_digest(&request_digest(&scope, &request)).unwrap());
        let account = key.address();
        verify_request(account, &signature, &scope, &request).unwrap();
        let other_nonce = "00112233445566778899aabbccddeef0";
        for (scope, changed) in [
            (scope, SignedRequest { method: "GET", ..request }),
            (scope, SignedRequest { path: "/v1/models", ..request }),
            (scope, SignedRequest { timestamp: 1_767_225_601, ..request }),
            (scope, SignedRequest { body: b"{ }", ..request }),
            (scope, SignedRequest { nonce: other_nonce, ..request }),
            (RequestScope { chain_id: 1, ..scope }, request),
            (RequestScope { gateway: Address::repeat_byte(8), ..scope }, request),
        ] {
            let err = verify_request(account, &signature, &scope, &changed).unwrap_err();
            assert!(err.to_string().contains("not by"), "{err}");
        }
        assert!(verify_request(account, "zz", &scope, &request).unwrap_err().to_string().contains("hex"));
        assert!(verify_request(account, "00", &scope, &request).unwrap_err().to_string().contains("65"));
        for bad in ["", "0123", "zz112233445566778899aabbccddeeff", &"a".repeat(65)] {
            let err = verify_request(account, &signature, &scope, &SignedRequest { nonce: bad, ..request });
            assert!(err.unwrap_err().to_string().contains("16 to 64 hex digits"), "{bad:?}");
        }
    }

    #[test]
    fn the_message_is_the_documented_text() {
        let gateway = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8".parse().unwrap();
        let scope = RequestScope { chain_id: 31337, gateway };
        let nonce = "9f86d081884c7d659a2feaa0c55ad015";
        let request = SignedRequest { method: "POST", path: "/v1/infer", timestamp: 1_767_225_600, nonce, body: b"{}" };
        assert_eq!(
            request_message(&scope, &request),
            "veritas request\nchain 31337\ngateway 0x70997970C51812dc3A010C7d01b50e0d17dc79C8\nPOST /v1/infer\n\
             1767225600\n9f86d081884c7d659a2feaa0c55ad015\n\
             44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
    }
}
