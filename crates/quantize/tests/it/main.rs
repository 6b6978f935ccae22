//! The integration tests of `veritas-quantize`, one binary: the importer on small hand-built
//! graphs (`import`) and the example networks, float and quantized (`models`).

mod import;
mod models;
