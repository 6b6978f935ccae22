//! Signed API requests: an account proves it pays for a request by signing, with EIP-191
//! (`personal_sign`, what every wallet offers), a message naming the request.
//!
//! The message is four lines: `veritas request`, the method and path, the Unix time in
//! seconds, and the hex SHA-256 of the body. The gateway accepts a signature for a few minutes
//! around its time and only once.

use alloy_primitives::{Address, B256, eip191_hash_message, hex};
use sha2::{Digest, Sha256};

use crate::{PrimitiveError, PrimitiveResult, recover_signer};

/// The header naming the paying account.
pub const ACCOUNT_HEADER: &str = "x-veritas-account";
/// The header with the signature's Unix time in seconds.
pub const TIMESTAMP_HEADER: &str = "x-veritas-timestamp";
/// The header with the 65-byte signature, hex.
pub const SIGNATURE_HEADER: &str = "x-veritas-signature";

/// The message an account signs for a request.
pub fn request_message(method: &str, path: &str, timestamp: u64, body: &[u8]) -> String {
    format!("veritas request\n{method} {path}\n{timestamp}\n{}", hex::encode(Sha256::digest(body)))
}

/// The EIP-191 digest of [`request_message`].
pub fn request_digest(method: &str, path: &str, timestamp: u64, body: &[u8]) -> B256 {
    eip191_hash_message(request_message(method, path, timestamp, body))
}

/// Checks that `signature` (hex) over the request was made by `account`.
pub fn verify_request(
    account: Address,
    signature: &str,
    method: &str,
    path: &str,
    timestamp: u64,
    body: &[u8],
) -> PrimitiveResult<()> {
    let bytes = hex::decode(signature.trim())
        .map_err(|err| PrimitiveError::Signature(format!("the signature is not hex: {err}")))?;
    let bytes: [u8; 65] = bytes
        .try_into()
        .map_err(|bytes: Vec<u8>| PrimitiveError::Signature(format!("{} bytes, expected 65", bytes.len())))?;
    let signer = recover_signer(&request_digest(method, path, timestamp, body), &bytes)?;
    if signer != account {
        return Err(PrimitiveError::Signature(format!("signed by {signer}, not by {account}")));
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
        let digest = request_digest("POST", "/v1/infer", 1_767_225_600, b"{}");
        let signature = hex::encode(key.sign_digest(&digest).unwrap());
        let account = key.address();
        verify_request(account, &signature, "POST", "/v1/infer", 1_767_225_600, b"{}").unwrap();
        for (method, path, time, body) in [
            ("GET", "/v1/infer", 1_767_225_600, &b"{}"[..]),
            ("POST", "/v1/models", 1_767_225_600, b"{}"),
            ("POST", "/v1/infer", 1_767_225_601, b"{}"),
            ("POST", "/v1/infer", 1_767_225_600, b"{ }"),
        ] {
            let err = verify_request(account, &signature, method, path, time, body).unwrap_err();
            assert!(err.to_string().contains("not by"), "{err}");
        }
        assert!(verify_request(account, "zz", "POST", "/v1/infer", 1, b"").unwrap_err().to_string().contains("hex"));
        assert!(verify_request(account, "00", "POST", "/v1/infer", 1, b"").unwrap_err().to_string().contains("65"));
    }
}
