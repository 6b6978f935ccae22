//! The integration tests of `veritas-zk`, one binary: the verifier's bounds (`bounds`), proof
//! encodings and the golden matvec proof (`encoding`), LogUp range checks (`logup`), matvec
//! proofs (`matvec`), proofs of the example networks (`model`), the multilinear commitment
//! (`pcs`) and the soundness pitfalls of model proofs (`soundness`). Proptest keeps each
//! module's regressions in `tests/proptest-regressions/<module>.txt`, its place for a source
//! beside a `main.rs`.

mod bounds;
mod encoding;
mod logup;
mod matvec;
mod model;
mod pcs;
mod soundness;
