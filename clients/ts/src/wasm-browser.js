// Loads the verifier's WebAssembly in a browser: fetched from next to its bindings.

import init from '../pkg/veritas_verifier_wasm.js';

export async function load() {
  await init();
}
