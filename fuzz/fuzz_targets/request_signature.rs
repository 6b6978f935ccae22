//! Fuzz target: a signed request's and a gateway call's headers and body (untrusted, from any
//! client or peer): checking them never panics, and a signature made up by the fuzzer never
//! verifies as a fixed account's or gateway's.
#![no_main]

use libfuzzer_sys::fuzz_target;
use veritas_primitives::{
    Address, ClaimDomain,
    call::{CALL_NONCE_HEADER, CALL_SIGNATURE_HEADER, CALL_TIME_HEADER, CallEnvelope, CallTarget, GATEWAY_HEADER},
    request::{RequestScope, SignedRequest, verify_request},
};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(6, '\n');
    let mut next = || parts.next().unwrap_or("");
    let (signature, method, path, nonce, time, body) = (next(), next(), next(), next(), next(), next());
    let account = Address::repeat_byte(0x42);
    let scope = RequestScope { chain_id: 31337, gateway: Address::repeat_byte(0x6a) };
    let request = SignedRequest { method, path, timestamp: data.len() as u64, nonce, body: body.as_bytes() };
    assert!(verify_request(account, signature, &scope, &request).is_err());

    // The same text as a call's headers: parsed, and never verified as the fixed gateway's.
    let header = |name: &str| match name {
        GATEWAY_HEADER => Some("0x6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a"),
        CALL_TIME_HEADER => Some(time),
        CALL_NONCE_HEADER => Some(nonce),
        CALL_SIGNATURE_HEADER => Some(signature),
        _ => None,
    };
    if let Ok(Some(envelope)) = CallEnvelope::from_headers(header) {
        let target = CallTarget { to: account, method, path, body: body.as_bytes() };
        assert!(envelope.verify(&ClaimDomain::dev(), &target).is_err());
    }
});
