// Runs the browser's verifier (web/pkg) under Node on a receipt file, under the TEE policy in the
// optional second file, and prints, one JSON per line, what it says of the receipt as it is and
// with one output number changed.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { initSync, describe } from '../pkg/veritas_verifier_wasm.js';

const pkg = fileURLToPath(new URL('../pkg/veritas_verifier_wasm_bg.wasm', import.meta.url));
initSync({ module: readFileSync(pkg) });
const text = readFileSync(process.argv[2], 'utf8');
const policy = process.argv[3] ? readFileSync(process.argv[3], 'utf8') : '';
console.log(describe(text, policy));
// One digit of the first output number, changed.
const receipt = JSON.parse(text);
const output = JSON.stringify(receipt.body.output).replace(/\d/, (d) => String((Number(d) + 1) % 10));
receipt.body.output = JSON.parse(output);
console.log(describe(JSON.stringify(receipt), policy));
