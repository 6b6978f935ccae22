//! Confidential requests: a request sealed to a key that an enclave attests, so that nobody
//! outside the enclave (the gateway, the validators, anyone reading logs or receipts) sees the
//! input or the answer.
//!
//! The enclave makes an X25519 key pair inside itself and offers its public key as an RFC 9458
//! key configuration ([`KeyConfig`]), with TEE evidence whose bound data is [`key_binding`] of that
//! configuration and the client's nonce. The client checks the evidence under its own TEE policy
//! ([`check_key_offer`]) **before** it seals anything, then seals its request with HPKE (RFC 9180:
//! DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305) in RFC 9458's encapsulation
//! (`key id ‖ kem ‖ kdf ‖ aead ‖ enc ‖ ciphertext`), with this protocol's own labels as RFC 9458
//! §4.6 asks of a repurposed format. The answer comes back in chunks under keys from RFC 9458's
//! response derivation (the HPKE exporter, a fresh response nonce, HKDF), each chunk's nonce the
//! base nonce XOR its index and the last one authenticated as final, as chunked Oblivious HTTP
//! does, so that a streamed answer can neither be cut short nor reordered unnoticed.
//!
//! The claim of a confidential answer carries no plaintext: its input and output hashes are
//! [`commitment`]s under a salt that only the client and the enclave can derive (from the HPKE
//! context), so that a guessable prompt cannot be found by hashing candidates; the client, given
//! the enclave's opening of the input and output, checks both. The claim's TEE evidence binds the
//! client's sealed request through its nonce ([`request_nonce`]).
//!
//! Pure: the randomness a sender needs (the ephemeral key, the response nonce) is passed in.

use chacha20poly1305::{
    ChaCha20Poly1305, KeyInit,
    aead::{Aead as _, Payload},
};
use hpke::{
    Deserializable, Kem as _, OpModeR, OpModeS, Serializable,
    aead::{AeadCtxR, AeadCtxS, ChaCha20Poly1305 as HpkeChaCha},
    kdf::HkdfSha256,
    kem::X25519HkdfSha256,
    rand_core::SeedableRng,
};
use sha2::{Digest, Sha256, Sha512};
use veritas_primitives::{B256, keccak256};

use crate::tee::{Attestation, Policy, TeeError, TeeReport, verify_attestation};

/// The KEM: DHKEM(X25519, HKDF-SHA256).
pub const KEM_ID: u16 = 0x0020;
/// The KDF: HKDF-SHA256.
pub const KDF_ID: u16 = 0x0001;
/// The AEAD: ChaCha20-Poly1305.
pub const AEAD_ID: u16 = 0x0003;
/// The HPKE `info` label of a sealed request (RFC 9458 §4.3, repurposed per §4.6).
pub const REQUEST_LABEL: &[u8] = b"veritas/confidential request";
/// The exporter label of the answer's keys (RFC 9458 §4.4, repurposed).
pub const RESPONSE_LABEL: &[u8] = b"veritas/confidential response";
/// The exporter label of the commitment salt.
pub const COMMITMENT_LABEL: &[u8] = b"veritas/confidential commitment";
/// The domain tag of [`key_binding`].
pub const KEY_BINDING_DOMAIN: &[u8] = b"veritas/tee-key/v1";
/// The domain tag of [`request_nonce`].
pub const REQUEST_NONCE_DOMAIN: &[u8] = b"veritas/confidential-request/v1";
/// The domain tag of [`commitment`].
pub const COMMITMENT_DOMAIN: &[u8] = b"veritas/confidential-commitment/v1";
/// What a confidential claim's parameters name as its scheme (`"confidential"`).
pub const SCHEME: &str = "hpke-x25519-sha256-chacha20poly1305/v1";
/// Whether a claim's parameters mark it confidential (`"confidential"` naming [`SCHEME`]).
pub fn is_confidential(params: &veritas_primitives::Params) -> bool {
    params.0.get("confidential").and_then(serde_json::Value::as_str) == Some(SCHEME)
}

/// The tokens a confidential claim's parameters say its language model produced
/// (`"completion_tokens"`): what it is charged for, attested with the claim.
pub fn completion_tokens(params: &veritas_primitives::Params) -> Option<u64> {
    params.0.get("completion_tokens").and_then(serde_json::Value::as_u64)
}

/// Checks an enclave's opening of a confidential claim (the claim's input and output, from the
/// sealed answer's last chunk) against the claim's commitments under the exchange's salt.
pub fn check_opening(
    claim: &veritas_primitives::Claim,
    salt: &[u8; 32],
    input: &veritas_primitives::Values,
    output: &veritas_primitives::Values,
) -> ConfidentialResult<()> {
    use veritas_primitives::values::values_hash;
    if commitment(salt, "input", &values_hash(input)) != claim.input_hash {
        return Err(ConfidentialError::Commitment { what: "input" });
    }
    if commitment(salt, "output", &values_hash(output)) != claim.output_hash {
        return Err(ConfidentialError::Commitment { what: "output" });
    }
    Ok(())
}

/// The largest sealed request accepted (bytes).
pub const MAX_SEALED_REQUEST: usize = 4 * 1024 * 1024;

const ENC_LEN: usize = 32;
const HEADER_LEN: usize = 7;
const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;
/// The response nonce's length: max(Nn, Nk) (RFC 9458 §4.4).
pub const RESPONSE_NONCE_LEN: usize = 32;

type Kem = X25519HkdfSha256;
type PublicKey = <Kem as hpke::Kem>::PublicKey;
type PrivateKey = <Kem as hpke::Kem>::PrivateKey;
type EncappedKey = <Kem as hpke::Kem>::EncappedKey;

/// Why a confidential exchange failed. Each names the step.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfidentialError {
    /// The key configuration is not one this protocol speaks.
    #[error("key configuration: {0}")]
    KeyConfig(String),
    /// The enclave's evidence does not hold under the client's policy.
    #[error("the enclave's attestation: {0}")]
    Attestation(#[from] TeeError),
    /// The evidence holds but binds another key (or nonce) than the one offered.
    #[error(
        "the attested key is not the key offered: the enclave's evidence binds {got}, the offer's key configuration and nonce give {expected}"
    )]
    KeyNotAttested {
        /// The binding of the offered key and nonce, hex.
        expected: String,
        /// What the evidence binds, hex.
        got: String,
    },
    /// The evidence answers another nonce than the client's.
    #[error("the key offer answers nonce {got}, not the {expected} this client sent")]
    StaleOffer {
        /// The client's nonce, hex.
        expected: String,
        /// The offer's, hex.
        got: String,
    },
    /// A sealed request that is not in the encapsulated form.
    #[error("sealed request: {0}")]
    Request(String),
    /// A sealed request that does not open with this enclave's key.
    #[error("sealed request: it does not open with this enclave's key ({0})")]
    Open(String),
    /// A sealed answer chunk that does not open.
    #[error("sealed answer: chunk {index} does not open (tampered, reordered or cut short)")]
    Chunk {
        /// The chunk's index.
        index: u64,
    },
    /// A sealed answer that is not in its form: no response nonce first, or a last chunk that
    /// does not follow the pieces streamed.
    #[error("sealed answer: {0}")]
    Answer(String),
    /// The answer's opening does not match the claim's commitments.
    #[error("the {what} the enclave opened does not match the claim's commitment")]
    Commitment {
        /// `input` or `output`.
        what: &'static str,
    },
}

/// Result alias of this module.
pub type ConfidentialResult<T> = Result<T, ConfidentialError>;

/// An enclave's public key as RFC 9458 §3 encodes a key configuration: key id, KEM id, the
/// public key, and the one symmetric suite offered (HKDF-SHA256, ChaCha20-Poly1305).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyConfig {
    /// The key's id.
    pub key_id: u8,
    /// The X25519 public key.
    pub public_key: [u8; 32],
}

impl KeyConfig {
    /// The RFC 9458 encoding: `key_id (1) ‖ kem_id (2) ‖ public key (32) ‖ suites length (2) ‖
    /// kdf_id (2) ‖ aead_id (2)`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(41);
        out.push(self.key_id);
        out.extend_from_slice(&KEM_ID.to_be_bytes());
        out.extend_from_slice(&self.public_key);
        out.extend_from_slice(&4u16.to_be_bytes());
        out.extend_from_slice(&KDF_ID.to_be_bytes());
        out.extend_from_slice(&AEAD_ID.to_be_bytes());
        out
    }

    /// Decodes exactly the encoding [`KeyConfig::encode`] writes: this suite, nothing more.
    pub fn decode(bytes: &[u8]) -> ConfidentialResult<KeyConfig> {
        let config = |reason: String| ConfidentialError::KeyConfig(reason);
        if bytes.len() != 41 {
            return Err(config(format!("{} bytes; this suite's configuration has 41", bytes.len())));
        }
        let kem = u16::from_be_bytes([bytes[1], bytes[2]]);
        if kem != KEM_ID {
            return Err(config(format!("KEM {kem:#06x}; only {KEM_ID:#06x} (X25519, HKDF-SHA256) is spoken")));
        }
        let suites = [&bytes[35..37], &bytes[37..39], &bytes[39..41]].map(|b| u16::from_be_bytes([b[0], b[1]]));
        if suites != [4, KDF_ID, AEAD_ID] {
            return Err(config(format!(
                "symmetric suites {suites:?}; only one, HKDF-SHA256 with ChaCha20-Poly1305, is spoken"
            )));
        }
        let config = KeyConfig { key_id: bytes[0], public_key: bytes[3..35].try_into().unwrap_or([0; 32]) };
        if config.encode() != bytes {
            return Err(ConfidentialError::KeyConfig("not in canonical form".into()));
        }
        PublicKey::from_bytes(&config.public_key)
            .map_err(|err| ConfidentialError::KeyConfig(format!("not an X25519 public key: {err}")))?;
        Ok(config)
    }

    fn header(&self) -> [u8; HEADER_LEN] {
        let mut header = [0; HEADER_LEN];
        header[0] = self.key_id;
        header[1..3].copy_from_slice(&KEM_ID.to_be_bytes());
        header[3..5].copy_from_slice(&KDF_ID.to_be_bytes());
        header[5..7].copy_from_slice(&AEAD_ID.to_be_bytes());
        header
    }
}

/// The 64 bytes a key offer's attestation must carry (Nitro `user_data`, TDX `report_data`):
/// `SHA-512("veritas/tee-key/v1" ‖ key configuration ‖ nonce)`. The tag and the configuration
/// have fixed lengths, so the nonce is unambiguous.
pub fn key_binding(config: &KeyConfig, nonce: &[u8]) -> [u8; 64] {
    let mut hasher = Sha512::new();
    hasher.update(KEY_BINDING_DOMAIN);
    hasher.update(config.encode());
    hasher.update(nonce);
    hasher.finalize().into()
}

/// Checks an enclave's key offer before anything is sealed to it: the attestation holds under
/// `policy` at `now` (Unix seconds: the client's clock, for freshness), it answers this client's
/// `nonce`, and it binds exactly the offered key configuration. Returns what the attestation
/// shows and the key to seal to.
pub fn check_key_offer(
    config: &[u8],
    attestation: &Attestation,
    offer_nonce: &[u8],
    nonce: &[u8],
    policy: &Policy,
    now: u64,
) -> ConfidentialResult<(TeeReport, KeyConfig)> {
    if offer_nonce != nonce {
        return Err(ConfidentialError::StaleOffer {
            expected: veritas_primitives::hex::encode(nonce),
            got: veritas_primitives::hex::encode(offer_nonce),
        });
    }
    let config = KeyConfig::decode(config)?;
    let (report, bound) = verify_attestation(attestation, policy, now)?;
    let expected = key_binding(&config, nonce);
    if bound != expected {
        return Err(ConfidentialError::KeyNotAttested {
            expected: veritas_primitives::hex::encode(expected),
            got: veritas_primitives::hex::encode(bound),
        });
    }
    Ok((report, config))
}

/// The nonce a confidential claim's TEE evidence binds: `SHA-256("veritas/confidential-request/v1"
/// ‖ sealed request)`, so that the client knows the enclave answered its very request.
pub fn request_nonce(sealed_request: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(REQUEST_NONCE_DOMAIN);
    hasher.update(sealed_request);
    hasher.finalize().into()
}

/// A confidential claim's input or output hash: `keccak256("veritas/confidential-commitment/v1" ‖
/// what ‖ salt ‖ values hash)`, `what` being `input` or `output`. Hiding as long as the salt (32
/// bytes from the HPKE context) stays with the client and the enclave.
pub fn commitment(salt: &[u8; 32], what: &str, values_hash: &B256) -> B256 {
    let mut bytes = Vec::with_capacity(COMMITMENT_DOMAIN.len() + what.len() + 64);
    bytes.extend_from_slice(COMMITMENT_DOMAIN);
    bytes.extend_from_slice(what.as_bytes());
    bytes.extend_from_slice(salt);
    bytes.extend_from_slice(values_hash.as_slice());
    keccak256(bytes)
}

/// What both ends of one exchange derive from its HPKE context: the answer's key material and
/// the commitment salt.
#[derive(Clone)]
pub struct Exchange {
    enc: [u8; ENC_LEN],
    response_secret: [u8; KEY_LEN],
    salt: [u8; 32],
}

impl Exchange {
    fn derive(enc: [u8; ENC_LEN], export: impl Fn(&[u8], &mut [u8]) -> Result<(), hpke::HpkeError>) -> Exchange {
        let (mut response_secret, mut salt) = ([0; KEY_LEN], [0; 32]);
        // Both lengths are far below the exporter's limit (255 × 32 bytes): it cannot fail.
        let _ = export(RESPONSE_LABEL, &mut response_secret);
        let _ = export(COMMITMENT_LABEL, &mut salt);
        Exchange { enc, response_secret, salt }
    }

    /// The salt of this exchange's [`commitment`]s.
    pub fn salt(&self) -> &[u8; 32] {
        &self.salt
    }

    /// The chunk cipher of the answer under `response_nonce` (RFC 9458 §4.4: `prk =
    /// Extract(enc ‖ response_nonce, secret)`, key and base nonce expanded from it).
    pub fn answer(&self, response_nonce: &[u8; RESPONSE_NONCE_LEN]) -> Chunks {
        let mut salt = Vec::with_capacity(ENC_LEN + RESPONSE_NONCE_LEN);
        salt.extend_from_slice(&self.enc);
        salt.extend_from_slice(response_nonce);
        let hkdf = hkdf::Hkdf::<sha2_hkdf::Sha256>::new(Some(&salt), &self.response_secret);
        let (mut key, mut nonce) = ([0; KEY_LEN], [0; NONCE_LEN]);
        // 32 and 12 bytes: far below HKDF-SHA256's limit.
        let _ = hkdf.expand(b"key", &mut key);
        let _ = hkdf.expand(b"nonce", &mut nonce);
        Chunks { cipher: ChaCha20Poly1305::new(&key.into()), nonce }
    }
}

/// The answer's chunks: chunk `i` is sealed with the base nonce XOR `i` (big-endian, in the last
/// 8 bytes), the last one with the associated data `final`, every other with none.
#[derive(Clone)]
pub struct Chunks {
    cipher: ChaCha20Poly1305,
    nonce: [u8; NONCE_LEN],
}

const FINAL_AAD: &[u8] = b"final";

impl Chunks {
    fn nonce(&self, index: u64) -> [u8; NONCE_LEN] {
        let mut nonce = self.nonce;
        for (byte, counter) in nonce[NONCE_LEN - 8..].iter_mut().zip(index.to_be_bytes()) {
            *byte ^= counter;
        }
        nonce
    }

    /// Seals chunk `index` (`last`: the final one).
    pub fn seal(&self, index: u64, plaintext: &[u8], last: bool) -> Vec<u8> {
        let aad = if last { FINAL_AAD } else { &[] };
        // ChaCha20-Poly1305 encryption fails only past 256 GiB per message.
        self.cipher.encrypt(&self.nonce(index).into(), Payload { msg: plaintext, aad }).unwrap_or_default()
    }

    /// Opens chunk `index` (`last`: the final one).
    pub fn open(&self, index: u64, ciphertext: &[u8], last: bool) -> ConfidentialResult<Vec<u8>> {
        let aad = if last { FINAL_AAD } else { &[] };
        self.cipher
            .decrypt(&self.nonce(index).into(), Payload { msg: ciphertext, aad })
            .map_err(|_| ConfidentialError::Chunk { index })
    }
}

/// A client's reading of a sealed answer: the streamed pieces in order, the first of them the
/// response nonce, then the last chunk, which must follow them.
#[derive(Clone)]
pub struct AnswerReader {
    exchange: Exchange,
    chunks: Option<Chunks>,
    pieces: u64,
}

impl AnswerReader {
    /// A reader of the answer to the request sealed with `exchange`.
    pub fn new(exchange: Exchange) -> AnswerReader {
        AnswerReader { exchange, chunks: None, pieces: 0 }
    }

    /// The exchange (its commitment salt).
    pub fn exchange(&self) -> &Exchange {
        &self.exchange
    }

    /// How many pieces of text were opened.
    pub fn pieces(&self) -> u64 {
        self.pieces
    }

    /// The next streamed piece: the first is the response nonce (returns nothing), each after it
    /// a sealed piece of text.
    pub fn piece(&mut self, sealed: &[u8]) -> ConfidentialResult<Vec<u8>> {
        let Some(chunks) = &self.chunks else {
            let nonce: [u8; RESPONSE_NONCE_LEN] = sealed
                .try_into()
                .map_err(|_| ConfidentialError::Answer("the stream does not open with a response nonce".into()))?;
            self.chunks = Some(self.exchange.answer(&nonce));
            return Ok(Vec::new());
        };
        let text = chunks.open(self.pieces, sealed, false)?;
        self.pieces += 1;
        Ok(text)
    }

    /// The last chunk (`index`, sealed under `response_nonce`); when the answer was `streamed`,
    /// it must come right after the pieces read.
    pub fn last(&self, response_nonce: &[u8], index: u64, last: &[u8], streamed: bool) -> ConfidentialResult<Vec<u8>> {
        if streamed && index != self.pieces {
            return Err(ConfidentialError::Answer(format!("it ends at chunk {index}, after {} streamed", self.pieces)));
        }
        let nonce: [u8; RESPONSE_NONCE_LEN] = response_nonce
            .try_into()
            .map_err(|_| ConfidentialError::Answer("a response nonce that is not 32 bytes".into()))?;
        self.exchange.answer(&nonce).open(index, last, true)
    }
}

/// The client's side: seals `plaintext` to an attested key. `seed` is 32 fresh random bytes (the
/// ephemeral key is drawn from them; never reuse a seed). Returns the sealed request and the
/// exchange that opens the answer.
pub fn seal_request(config: &KeyConfig, plaintext: &[u8], seed: [u8; 32]) -> ConfidentialResult<(Vec<u8>, Exchange)> {
    let public_key = PublicKey::from_bytes(&config.public_key)
        .map_err(|err| ConfidentialError::KeyConfig(format!("not an X25519 public key: {err}")))?;
    let header = config.header();
    let info = info(&header);
    let mut rng = chacha20::ChaCha20Rng::from_seed(seed);
    let (enc, mut context): (EncappedKey, AeadCtxS<HpkeChaCha, HkdfSha256, Kem>) =
        hpke::setup_sender_with_rng(&OpModeS::Base, &public_key, &info, &mut rng)
            .map_err(|err| ConfidentialError::Request(format!("encapsulation failed: {err}")))?;
    let ciphertext =
        context.seal(plaintext, &[]).map_err(|err| ConfidentialError::Request(format!("sealing failed: {err}")))?;
    let enc: [u8; ENC_LEN] = enc.to_bytes().into();
    let mut sealed = Vec::with_capacity(HEADER_LEN + ENC_LEN + ciphertext.len());
    sealed.extend_from_slice(&header);
    sealed.extend_from_slice(&enc);
    sealed.extend_from_slice(&ciphertext);
    let exchange = Exchange::derive(enc, |label, out| context.export(label, out));
    Ok((sealed, exchange))
}

fn info(header: &[u8; HEADER_LEN]) -> Vec<u8> {
    let mut info = Vec::with_capacity(REQUEST_LABEL.len() + 1 + HEADER_LEN);
    info.extend_from_slice(REQUEST_LABEL);
    info.push(0);
    info.extend_from_slice(header);
    info
}

/// An enclave's key pair. The private key never leaves the enclave's memory.
pub struct EnclaveKey {
    config: KeyConfig,
    private: PrivateKey,
}

impl EnclaveKey {
    /// A key pair derived from 32 fresh random bytes made inside the enclave.
    pub fn from_seed(key_id: u8, seed: &[u8; 32]) -> EnclaveKey {
        let (private, public) = Kem::derive_keypair(seed);
        let public_key: [u8; 32] = public.to_bytes().into();
        EnclaveKey { config: KeyConfig { key_id, public_key }, private }
    }

    /// The public key configuration the enclave offers.
    pub fn config(&self) -> KeyConfig {
        self.config
    }

    /// Opens a sealed request: returns its plaintext and the exchange that seals the answer.
    pub fn open(&self, sealed: &[u8]) -> ConfidentialResult<(Vec<u8>, Exchange)> {
        if sealed.len() > MAX_SEALED_REQUEST {
            return Err(ConfidentialError::Request(format!("{} bytes, at most {MAX_SEALED_REQUEST}", sealed.len())));
        }
        if sealed.len() < HEADER_LEN + ENC_LEN + 16 {
            return Err(ConfidentialError::Request(format!(
                "{} bytes, shorter than a header, an encapsulated key and a tag",
                sealed.len()
            )));
        }
        let (header, rest) = sealed.split_at(HEADER_LEN);
        if header != self.config.header() {
            return Err(ConfidentialError::Request(format!(
                "header {} names another key or suite than this enclave's {}",
                veritas_primitives::hex::encode(header),
                veritas_primitives::hex::encode(self.config.header())
            )));
        }
        let (enc, ciphertext) = rest.split_at(ENC_LEN);
        let encapped = EncappedKey::from_bytes(enc).map_err(|err| ConfidentialError::Open(err.to_string()))?;
        let mut context: AeadCtxR<HpkeChaCha, HkdfSha256, Kem> =
            hpke::setup_receiver(&OpModeR::Base, &self.private, &encapped, &info(&self.config.header()))
                .map_err(|err| ConfidentialError::Open(err.to_string()))?;
        let plaintext = context.open(ciphertext, &[]).map_err(|err| ConfidentialError::Open(err.to_string()))?;
        let enc: [u8; ENC_LEN] = enc.try_into().unwrap_or([0; ENC_LEN]);
        Ok((plaintext, Exchange::derive(enc, |label, out| context.export(label, out))))
    }
}

#[cfg(test)]
mod tests;
