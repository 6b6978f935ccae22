//! Model ids: the SHA-256 digest of a model version's canonical manifest, shown as an IPFS CIDv1.

use std::{fmt, str::FromStr};

use cid::{Cid, Version, multibase::Base, multihash::Multihash};
use sha2::{Digest, Sha256};

use crate::{B256, PrimitiveError, PrimitiveResult};

/// Multihash code of SHA2-256.
const SHA2_256: u64 = 0x12;
/// Multicodec of JSON: a manifest is canonical JSON.
const JSON_CODEC: u64 = 0x0200;

/// The content address of a model version: SHA-256 of its canonical manifest.
///
/// Printed as a CIDv1 (base32, codec `json`, multihash `sha2-256`), the form IPFS tools accept.
/// On chain and in claims it is the bare 32-byte digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModelId(pub B256);

impl ModelId {
    /// The id of a manifest given as its canonical bytes.
    pub fn of_manifest(canonical_manifest: &[u8]) -> ModelId {
        ModelId(B256::from_slice(&Sha256::digest(canonical_manifest)))
    }

    /// The 32-byte SHA-256 digest.
    pub fn digest(&self) -> B256 {
        self.0
    }

    fn to_cid(self) -> Cid {
        // OK because a 32-byte digest always fits a 64-byte multihash.
        let hash = Multihash::<64>::wrap(SHA2_256, self.0.as_slice()).expect("32-byte digest fits");
        Cid::new_v1(JSON_CODEC, hash)
    }
}

impl fmt::Display for ModelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // OK because base32 encoding of a CIDv1 cannot fail.
        let text = self.to_cid().to_string_of_base(Base::Base32Lower).expect("base32 of a CIDv1");
        f.write_str(&text)
    }
}

impl fmt::Debug for ModelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ModelId({self})")
    }
}

impl FromStr for ModelId {
    type Err = PrimitiveError;

    fn from_str(input: &str) -> PrimitiveResult<ModelId> {
        let fail = |reason: &str| PrimitiveError::ModelId { input: input.to_owned(), reason: reason.to_owned() };
        let cid = Cid::try_from(input).map_err(|err| fail(&format!("not a CID ({err})")))?;
        if cid.version() != Version::V1 {
            return Err(fail("expected a CIDv1"));
        }
        if cid.codec() != JSON_CODEC {
            return Err(fail(&format!("expected codec json (0x0200), got {:#x}", cid.codec())));
        }
        let hash = cid.hash();
        if hash.code() != SHA2_256 || hash.digest().len() != 32 {
            return Err(fail("expected a sha2-256 multihash"));
        }
        let id = ModelId(B256::from_slice(hash.digest()));
        // Only the canonical spelling is accepted, so that one model has exactly one id string.
        if id.to_string() != input {
            return Err(fail("not in canonical base32 form"));
        }
        Ok(id)
    }
}

impl serde::Serialize for ModelId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for ModelId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<ModelId, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_parse_round_trip() {
        let id = ModelId::of_manifest(b"{}");
        let text = id.to_string();
        assert!(text.starts_with("bagaaiera"), "{text}");
        assert_eq!(text.parse::<ModelId>().unwrap(), id);
    }

    #[test]
    fn known_digest() {
        // sha256("") is a well-known constant.
        let id = ModelId::of_manifest(b"");
        assert_eq!(id.digest().to_string(), "0xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }

    fn check_err(input: &str, expected: &str) {
        let err = input.parse::<ModelId>().unwrap_err().to_string();
        assert!(err.contains(expected), "{input}: {err}");
    }

    #[test]
    fn rejects_bad_ids() {
        check_err("", "not a CID");
        check_err("hello", "not a CID");
        // CIDv0 (a bare base58 sha2-256 multihash).
        check_err("QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG", "expected a CIDv1");
        // raw codec instead of json
        check_err("bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku", "expected codec json");
    }

    #[test]
    fn rejects_non_canonical_base() {
        let id = ModelId::of_manifest(b"x");
        let upper = id.to_cid().to_string_of_base(Base::Base58Btc).unwrap();
        check_err(&upper, "canonical");
    }
}
