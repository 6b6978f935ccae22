//! Signing claims with a worker's secp256k1 key (feature `signer`).

#[cfg(target_arch = "wasm32")]
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;

use crate::{Address, B256, Claim, ClaimDomain, PrimitiveError, PrimitiveResult, SignedClaim};

/// A worker's signing key.
pub struct WorkerKey {
    signer: PrivateKeySigner,
    /// The same key for libsecp256k1, which signs natively (k256 in WebAssembly).
    #[cfg(not(target_arch = "wasm32"))]
    native: secp256k1::SecretKey,
}

impl WorkerKey {
    fn new(signer: PrivateKeySigner) -> PrimitiveResult<WorkerKey> {
        Ok(WorkerKey {
            #[cfg(not(target_arch = "wasm32"))]
            native: secp256k1::SecretKey::from_byte_array(signer.to_bytes().0)
                .map_err(|err| PrimitiveError::Key(err.to_string()))?,
            signer,
        })
    }

    /// A key from its 32 secret bytes.
    pub fn from_bytes(secret: &B256) -> PrimitiveResult<WorkerKey> {
        let signer = PrivateKeySigner::from_bytes(secret).map_err(|err| PrimitiveError::Key(err.to_string()))?;
        WorkerKey::new(signer)
    }

    /// The key at `m/44'/60'/0'/0/{index}` of a BIP-39 mnemonic (English), as wallets derive it.
    #[cfg(feature = "mnemonic")]
    pub fn from_mnemonic(phrase: &str, index: u32) -> PrimitiveResult<WorkerKey> {
        use alloy_signer_local::{MnemonicBuilder, coins_bip39::English};
        let signer = MnemonicBuilder::<English>::default()
            .phrase(phrase)
            .index(index)
            .map_err(|err| PrimitiveError::Key(err.to_string()))?
            .build()
            .map_err(|err| PrimitiveError::Key(err.to_string()))?;
        WorkerKey::new(signer)
    }

    /// A fresh random key from the operating system's generator.
    pub fn random() -> WorkerKey {
        // A random scalar below the curve order is a valid key for both libraries.
        WorkerKey::new(PrivateKeySigner::random()).expect("a random key is valid")
    }

    /// The 32 secret bytes, for storing the key.
    pub fn secret(&self) -> B256 {
        self.signer.to_bytes()
    }

    /// The Ethereum address of the key.
    pub fn address(&self) -> Address {
        self.signer.address()
    }

    /// Signs a 32-byte digest, giving `r ‖ s ‖ v` with v ∈ {27, 28} and a low `s` (RFC 6979
    /// nonces: the same signature from either library).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn sign_digest(&self, digest: &B256) -> PrimitiveResult<[u8; 65]> {
        let sig = secp256k1::SECP256K1.sign_ecdsa_recoverable(secp256k1::Message::from_digest(digest.0), &self.native);
        let (id, compact) = sig.serialize_compact();
        let mut bytes = [0u8; 65];
        bytes[..64].copy_from_slice(&compact);
        bytes[64] = 27 + u8::try_from(i32::from(id)).map_err(|err| PrimitiveError::Signature(err.to_string()))?;
        Ok(bytes)
    }

    /// Signs a 32-byte digest, giving `r ‖ s ‖ v` with v ∈ {27, 28} and a low `s`.
    #[cfg(target_arch = "wasm32")]
    pub fn sign_digest(&self, digest: &B256) -> PrimitiveResult<[u8; 65]> {
        let sig = self.signer.sign_hash_sync(digest).map_err(|err| PrimitiveError::Signature(err.to_string()))?;
        Ok(sig.as_bytes())
    }

    /// Signs a claim in a domain.
    pub fn sign_claim(&self, claim: Claim, domain: &ClaimDomain) -> PrimitiveResult<SignedClaim> {
        let signature = self.sign_digest(&claim.signing_hash(domain))?;
        Ok(SignedClaim { claim, signature })
    }
}

impl std::fmt::Debug for WorkerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        write!(f, "WorkerKey({})", self.address())
    }
}

#[cfg(all(test, feature = "mnemonic"))]
mod tests {
    use super::*;

    #[test]
    fn the_well_known_test_mnemonic_gives_the_well_known_accounts() {
        // The development mnemonic of Hardhat and Anvil, and its first two accounts.
        let phrase = "test test test test test test test test test test test junk";
        let first = WorkerKey::from_mnemonic(phrase, 0).unwrap();
        assert_eq!(first.address().to_string(), "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
        let second = WorkerKey::from_mnemonic(phrase, 1).unwrap();
        assert_eq!(second.address().to_string(), "0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
        assert!(WorkerKey::from_mnemonic("not a mnemonic", 0).is_err());
    }
}
