// Loads the verifier's WebAssembly in Node: from the package's own file.

import { readFileSync } from 'node:fs';
import { initSync } from '../pkg/veritas_verifier_wasm.js';

export async function load() {
  initSync({ module: readFileSync(new URL('../pkg/veritas_verifier_wasm_bg.wasm', import.meta.url)) });
}
