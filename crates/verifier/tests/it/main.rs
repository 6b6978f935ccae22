//! The integration tests of `veritas-verifier`, one binary: the TEE evidence vectors of
//! `tests/vectors/tee/MANIFEST.md`, AWS Nitro attestation documents (`tee_nitro`) and Intel TDX
//! quotes (`tee_tdx`).

mod tee_nitro;
mod tee_tdx;
