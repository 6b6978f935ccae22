//! The claim: what a worker asserts it computed, as EIP-712 typed data signed with secp256k1.
//!
//! The typed data is `Claim(bytes32 requestId,bytes32 modelId,bytes32 inputHash,bytes32
//! outputHash,bytes32 paramsHash,uint8 mode,address worker,uint64 timestamp)` in the domain
//! `{name: "veritas", version: "1", chainId, verifyingContract}`, so a contract recovers the
//! worker with `ecrecover` over the same digest.

use alloy_primitives::U256;
use alloy_sol_types::{Eip712Domain, SolStruct};
use serde::{Deserialize, Serialize};

use crate::{Address, B256, ModelId, PrimitiveError, PrimitiveResult, abi};

/// How a claim is checked: see DESIGN.md §2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The worker's signature only.
    #[default]
    Signed,
    /// Validators re-execute the computation.
    Reexec,
    /// A zero-knowledge proof of the computation.
    Zk,
    /// A TEE attestation.
    Tee,
}

impl Mode {
    /// The byte that the claim's typed data carries.
    pub fn code(self) -> u8 {
        match self {
            Mode::Signed => 0,
            Mode::Reexec => 1,
            Mode::Zk => 2,
            Mode::Tee => 3,
        }
    }

    /// The mode of a claim byte.
    pub fn from_code(code: u8) -> PrimitiveResult<Mode> {
        match code {
            0 => Ok(Mode::Signed),
            1 => Ok(Mode::Reexec),
            2 => Ok(Mode::Zk),
            3 => Ok(Mode::Tee),
            other => Err(PrimitiveError::Decode { what: "mode", reason: format!("unknown mode {other}") }),
        }
    }

    /// The lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Signed => "signed",
            Mode::Reexec => "reexec",
            Mode::Zk => "zk",
            Mode::Tee => "tee",
        }
    }
}

impl std::str::FromStr for Mode {
    type Err = PrimitiveError;

    fn from_str(text: &str) -> PrimitiveResult<Mode> {
        [Mode::Signed, Mode::Reexec, Mode::Zk, Mode::Tee].into_iter().find(|m| m.name() == text).ok_or_else(|| {
            PrimitiveError::Decode {
                what: "mode",
                reason: format!("unknown mode {text:?}; expected signed, reexec, zk or tee"),
            }
        })
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a worker asserts: this model produced this output from this input with these parameters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claim {
    /// Unique id of the request, chosen by the gateway.
    pub request_id: B256,
    /// The model version that ran.
    pub model_id: ModelId,
    /// Keccak-256 of the canonical bytes of the inputs.
    pub input_hash: B256,
    /// Keccak-256 of the canonical bytes of the outputs.
    pub output_hash: B256,
    /// Keccak-256 of the canonical JSON of the parameters.
    pub params_hash: B256,
    /// How the claim is to be checked.
    pub mode: Mode,
    /// The address of the worker's signing key.
    pub worker: Address,
    /// Unix seconds at which the worker signed.
    pub timestamp: u64,
}

/// The EIP-712 domain that claims are signed in: a chain and the settlement contract on it.
///
/// Until a network settles on chain the contract is the zero address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimDomain {
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// The settlement contract.
    pub verifying_contract: Address,
}

impl ClaimDomain {
    /// The chain id of the embedded development chain.
    pub const DEV_CHAIN_ID: u64 = 31337;

    /// The domain of the embedded development network before any contract is deployed.
    pub fn dev() -> ClaimDomain {
        ClaimDomain { chain_id: Self::DEV_CHAIN_ID, verifying_contract: Address::ZERO }
    }

    pub(crate) fn eip712(&self) -> Eip712Domain {
        Eip712Domain::new(
            Some("veritas".into()),
            Some("1".into()),
            Some(U256::from(self.chain_id)),
            Some(self.verifying_contract),
            None,
        )
    }
}

impl Claim {
    pub(crate) fn typed(&self) -> abi::Claim {
        abi::Claim {
            requestId: self.request_id,
            modelId: self.model_id.digest(),
            inputHash: self.input_hash,
            outputHash: self.output_hash,
            paramsHash: self.params_hash,
            mode: self.mode.code(),
            worker: self.worker,
            timestamp: self.timestamp,
        }
    }

    pub(crate) fn from_typed(typed: &abi::Claim) -> PrimitiveResult<Claim> {
        Ok(Claim {
            request_id: typed.requestId,
            model_id: ModelId(typed.modelId),
            input_hash: typed.inputHash,
            output_hash: typed.outputHash,
            params_hash: typed.paramsHash,
            mode: Mode::from_code(typed.mode)?,
            worker: typed.worker,
            timestamp: typed.timestamp,
        })
    }

    /// The EIP-712 digest that the worker signs; also the receipt's id.
    pub fn signing_hash(&self, domain: &ClaimDomain) -> B256 {
        self.typed().eip712_signing_hash(&domain.eip712())
    }
}

/// A claim with the worker's 65-byte signature (`r ‖ s ‖ v`, v ∈ {27, 28}).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedClaim {
    /// The claim.
    pub claim: Claim,
    /// The worker's signature over `claim.signing_hash(domain)`.
    pub signature: [u8; 65],
}

/// Half the order of secp256k1: signatures with a larger `s` are malleable copies, refused as
/// OpenZeppelin's `ECDSA.recover` refuses them.
const HALF_ORDER: U256 =
    alloy_primitives::uint!(0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0_U256);

/// The signer of a signature given as bytes (which must be 65 long), as [`recover_signer`].
pub fn recover_signer_bytes(digest: &B256, signature: &[u8]) -> PrimitiveResult<Address> {
    let signature = <&[u8; 65]>::try_from(signature)
        .map_err(|_| PrimitiveError::Signature(format!("a signature has 65 bytes, not {}", signature.len())))?;
    recover_signer(digest, signature)
}

/// Recovers the address that signed `digest`, accepting only canonical signatures: `v` is 27 or
/// 28 and `s` is in the lower half of the curve order.
pub fn recover_signer(digest: &B256, signature: &[u8; 65]) -> PrimitiveResult<Address> {
    let v = signature[64];
    if v != 27 && v != 28 {
        return Err(PrimitiveError::Signature(format!("v must be 27 or 28, got {v}")));
    }
    if U256::from_be_slice(&signature[32..64]) > HALF_ORDER {
        return Err(PrimitiveError::Signature("s is in the upper half of the curve order".into()));
    }
    recover(digest, signature)
}

/// The recovery itself, with libsecp256k1 natively.
#[cfg(not(target_arch = "wasm32"))]
fn recover(digest: &B256, signature: &[u8; 65]) -> PrimitiveResult<Address> {
    use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
    let fail = |err: secp256k1::Error| PrimitiveError::Signature(format!("signature: {err}"));
    let id = RecoveryId::try_from(i32::from(signature[64] - 27)).map_err(fail)?;
    let sig = RecoverableSignature::from_compact(&signature[..64], id).map_err(fail)?;
    let key = sig.recover(secp256k1::Message::from_digest(digest.0)).map_err(fail)?;
    Ok(Address::from_raw_public_key(&key.serialize_uncompressed()[1..]))
}

/// The recovery itself, with k256 in WebAssembly.
#[cfg(target_arch = "wasm32")]
fn recover(digest: &B256, signature: &[u8; 65]) -> PrimitiveResult<Address> {
    let sig = alloy_primitives::Signature::from_raw_array(signature)
        .map_err(|err| PrimitiveError::Signature(err.to_string()))?;
    sig.recover_address_from_prehash(digest).map_err(|err| PrimitiveError::Signature(err.to_string()))
}

#[cfg(all(test, feature = "signer"))]
mod tests {
    use super::*;
    use crate::{WorkerKey, keccak256};

    fn claim(worker: Address) -> Claim {
        Claim {
            request_id: B256::repeat_byte(1),
            model_id: ModelId::of_manifest(b"m"),
            input_hash: B256::repeat_byte(2),
            output_hash: B256::repeat_byte(3),
            params_hash: B256::repeat_byte(4),
            mode: Mode::Signed,
            worker,
            timestamp: 5,
        }
    }

    #[test]
    fn sign_and_recover() {
        let key = WorkerKey::from_bytes(&keccak256(b"k")).unwrap();
        let signed = key.sign_claim(claim(key.address()), &ClaimDomain::dev()).unwrap();
        let digest = signed.claim.signing_hash(&ClaimDomain::dev());
        assert_eq!(recover_signer(&digest, &signed.signature).unwrap(), key.address());
    }

    #[test]
    fn signature_is_bound_to_the_domain() {
        let key = WorkerKey::from_bytes(&keccak256(b"k")).unwrap();
        let signed = key.sign_claim(claim(key.address()), &ClaimDomain::dev()).unwrap();
        let other_chain = ClaimDomain { chain_id: 1, ..ClaimDomain::dev() };
        let other_contract = ClaimDomain { verifying_contract: Address::repeat_byte(9), ..ClaimDomain::dev() };
        for domain in [other_chain, other_contract] {
            let digest = signed.claim.signing_hash(&domain);
            assert_ne!(recover_signer(&digest, &signed.signature).unwrap(), key.address());
        }
    }

    #[test]
    fn type_hash_matches_solidity() {
        // keccak256("Claim(bytes32 requestId,...)"), the constant a contract declares.
        let expected = keccak256(
            "Claim(bytes32 requestId,bytes32 modelId,bytes32 inputHash,bytes32 outputHash,bytes32 paramsHash,uint8 mode,address worker,uint64 timestamp)",
        );
        assert_eq!(alloy_sol_types::SolStruct::eip712_type_hash(&claim(Address::ZERO).typed()), expected);
    }

    #[test]
    fn non_canonical_signatures_are_refused() {
        let key = WorkerKey::from_bytes(&keccak256(b"k")).unwrap();
        let signed = key.sign_claim(claim(key.address()), &ClaimDomain::dev()).unwrap();
        let digest = signed.claim.signing_hash(&ClaimDomain::dev());
        let mut zero_v = signed.signature;
        zero_v[64] -= 27;
        assert!(recover_signer(&digest, &zero_v).unwrap_err().to_string().contains("v must be 27 or 28"));
        // s' = n - s gives the same signer on a naive check; it must be refused.
        let n = alloy_primitives::uint!(0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141_U256);
        let s = U256::from_be_slice(&signed.signature[32..64]);
        let mut high = signed.signature;
        high[32..64].copy_from_slice(&(n - s).to_be_bytes::<32>());
        high[64] = if high[64] == 27 { 28 } else { 27 };
        assert!(recover_signer(&digest, &high).unwrap_err().to_string().contains("upper half"));
    }

    /// The native backend (libsecp256k1) gives what k256 gives, which the WebAssembly build
    /// and every Ethereum tool agree with: the same signature bytes for a key and digest (RFC
    /// 6979, low `s`), the same signer for any signature, and an error for the same ones.
    #[cfg(not(target_arch = "wasm32"))]
    mod native_matches_k256 {
        use alloy_signer::SignerSync;
        use proptest::prelude::*;

        use super::*;

        fn k256_recover(digest: &B256, signature: &[u8; 65]) -> Option<Address> {
            let sig = alloy_primitives::Signature::from_raw_array(signature).ok()?;
            sig.recover_address_from_prehash(digest).ok()
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn signatures_and_signers_agree(
                secret in any::<[u8; 32]>(),
                digest in any::<[u8; 32]>(),
                flip in any::<(usize, u8)>(),
            ) {
                let Ok(key) = WorkerKey::from_bytes(&B256::from(secret)) else { return Ok(()) };
                let digest = B256::from(digest);
                let ours = key.sign_digest(&digest).unwrap();
                let theirs = alloy_signer_local::PrivateKeySigner::from_bytes(&B256::from(secret))
                    .unwrap()
                    .sign_hash_sync(&digest)
                    .unwrap()
                    .as_bytes();
                prop_assert_eq!(ours, theirs);
                prop_assert_eq!(recover_signer(&digest, &ours).ok(), Some(key.address()));

                // Any byte of r or s changed: both backends name the same signer or none.
                let mut mangled = ours;
                let (at, by) = (flip.0 % 64, flip.1.max(1));
                mangled[at] ^= by;
                let low_s = U256::from_be_slice(&mangled[32..64]) <= HALF_ORDER;
                let expected = if low_s { k256_recover(&digest, &mangled) } else { None };
                prop_assert_eq!(recover_signer(&digest, &mangled).ok(), expected);
            }
        }

        #[test]
        fn out_of_range_scalars_are_refused_by_both() {
            let digest = keccak256(b"d");
            let n = alloy_primitives::uint!(0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141_U256);
            for (r, s) in [(U256::ZERO, U256::from(1)), (U256::from(1), U256::ZERO), (n, U256::from(1))] {
                let mut sig = [0u8; 65];
                sig[..32].copy_from_slice(&r.to_be_bytes::<32>());
                sig[32..64].copy_from_slice(&s.to_be_bytes::<32>());
                sig[64] = 27;
                assert!(recover_signer(&digest, &sig).is_err(), "r {r}, s {s}");
                assert_eq!(k256_recover(&digest, &sig), None, "r {r}, s {s}");
            }
        }
    }
}
