// What the TypeScript SDK's verification costs per answer, against the request's own latency:
// the same requests through `Client` with verification on (the default) and off, one at a time,
// against a running network. Prints a Markdown table (ms, median and p90).
//
//     node bench/clients/overhead.mjs http://127.0.0.1:7700 30

import { Client } from '../../clients/ts/src/index.js';

const [url, n = '30'] = process.argv.slice(2);
const N = Number(n);

async function timed(call) {
  const samples = [];
  for (let i = 0; i < N + 2; i++) {
    const started = performance.now();
    await call();
    if (i >= 2) samples.push(performance.now() - started);
  }
  samples.sort((a, b) => a - b);
  return [samples[Math.floor(samples.length / 2)], samples[Math.floor(samples.length * 0.9)]];
}

const requests = {
  'iris (ONNX)': (c) => c.infer('iris', { float_input: [[5.1, 3.5, 1.4, 0.2]] }),
  'chat, 16 tokens': (c) => c.chat('smollm2', [{ role: 'user', content: 'Name one colour.' }], { max_tokens: 16, temperature: 0, seed: 1 }),
};
const plain = new Client(url, { verify: false });
const checked = new Client(url);
console.log(`${N} requests per figure, one at a time; ms, median (p90)\n`);
console.log('| request | verify: false | verified (default) | added |');
console.log('|---|---|---|---|');
const receipts = {};
for (const [name, call] of Object.entries(requests)) {
  const [off, off90] = await timed(() => call(plain));
  const [on, on90] = await timed(() => call(checked));
  receipts[name] = (await call(checked)).receipt;
  console.log(`| ${name} | ${off.toFixed(2)} (${off90.toFixed(2)}) | ${on.toFixed(2)} (${on90.toFixed(2)}) | ${(on - off).toFixed(2)} |`);
}
console.log('\nThe verification alone (`Client.verify` on the answer\'s receipt text), 1000 times; µs, median (p90)\n');
console.log('| receipt | verify |');
console.log('|---|---|');
for (const [name, text] of Object.entries(receipts)) {
  const samples = [];
  for (let i = 0; i < 1000; i++) {
    const started = performance.now();
    await checked.verify(text);
    samples.push((performance.now() - started) * 1e3);
  }
  samples.sort((a, b) => a - b);
  console.log(`| ${name} | ${samples[500].toFixed(0)} (${samples[900].toFixed(0)}) |`);
}
