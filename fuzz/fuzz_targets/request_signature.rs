//! Fuzz target: a signed request's headers and body (untrusted, from any client): checking the
//! signature never panics, and a signature made up by the fuzzer never verifies as a fixed
//! account's.
#![no_main]

use libfuzzer_sys::fuzz_target;
use veritas_primitives::{Address, request::verify_request};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(4, '\n');
    let (signature, method, path, body) =
        (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let account = Address::repeat_byte(0x42);
    let timestamp = data.len() as u64;
    assert!(verify_request(account, signature, method, path, timestamp, body.as_bytes()).is_err());
});
