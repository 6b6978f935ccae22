// The SDK in a browser (Chromium, driven by web/'s playwright-core): the page loads the sources
// as they are (an import map for the dependencies), verifies in WebAssembly, and reaches the
// gateway through its own origin (the gateway sends no CORS headers).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Readable } from 'node:stream';

import { URL_LIVE, needsNetwork } from './network.mjs';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const playwright = new URL('../../../web/node_modules/playwright-core/package.json', import.meta.url);
const missing = needsNetwork
  || (existsSync(playwright) ? false : 'playwright-core is not installed in web/ (npm ci there)')
  || (existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM}`);

const PAGE = `<!doctype html><meta charset="utf-8">
<script type="importmap">{"imports": {
  "@noble/curves/": "/sdk/node_modules/@noble/curves/",
  "@noble/hashes/": "/sdk/node_modules/@noble/hashes/",
  "#wasm-load": "/sdk/src/wasm-browser.js"}}</script>
<script type="module">
import { Client, InvalidReceipt } from '/sdk/src/index.js';
window.run = async () => {
  const client = new Client(location.origin);
  const infer = await client.infer('iris', { float_input: [[5.1, 3.5, 1.4, 0.2]] });
  const stream = await client.chat('smollm2', [{ role: 'user', content: 'Hi' }], { stream: true, max_tokens: 8, temperature: 0 });
  let text = '';
  for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
  const signature = JSON.parse(stream.receipt).signature;
  const changed = stream.receipt.replace(signature, signature.slice(0, 10) + (signature[10] === 'a' ? 'b' : 'a') + signature.slice(11));
  const refused = await client.verify(changed).then(() => 'accepted', (err) => (err instanceof InvalidReceipt ? err.check : String(err)));
  return { infer: infer.verification.badge, chat: stream.verification.badge, text, streamed: stream.content, refused };
};
window.ready = true;
</script>`;

const TYPES = { '.js': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json' };

test('in Chromium: honest answers verify, a changed receipt does not', { skip: missing }, async () => {
  const root = new URL('../', import.meta.url);
  const server = createServer(async (req, res) => {
    try {
      if (req.url === '/') {
        res.writeHead(200, { 'content-type': 'text/html' });
        return res.end(PAGE);
      }
      if (req.url.startsWith('/sdk/')) {
        const file = new URL(req.url.slice(5), root);
        if (!file.pathname.startsWith(root.pathname) || !existsSync(file)) {
          res.writeHead(404);
          return res.end();
        }
        res.writeHead(200, { 'content-type': TYPES[/\.[a-z]+$/.exec(file.pathname)?.[0]] ?? 'application/octet-stream' });
        return res.end(readFileSync(file));
      }
      const chunks = [];
      for await (const chunk of req) chunks.push(chunk);
      const upstream = await fetch(`${URL_LIVE}${req.url}`, {
        method: req.method,
        headers: { 'content-type': req.headers['content-type'] ?? 'application/json' },
        body: chunks.length ? Buffer.concat(chunks) : undefined,
      });
      res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'application/json' });
      if (upstream.body) Readable.fromWeb(upstream.body).pipe(res);
      else res.end();
    } catch (err) {
      res.destroy(err);
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { chromium } = createRequire(playwright)('playwright-core');
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (err) => errors.push(err.message));
    page.on('console', (message) => message.type() === 'error' && errors.push(message.text()));
    await page.goto(`http://127.0.0.1:${server.address().port}/`);
    await page.waitForFunction(() => window.ready === true, null, { timeout: 10_000 }).catch(() => {
      throw new Error(`the page did not load the SDK: ${errors.join('; ')}`);
    });
    const result = await page.evaluate(() => window.run());
    assert.notEqual(result.infer, 'invalid');
    assert.notEqual(result.chat, 'invalid');
    assert.ok(result.text.length > 0);
    assert.equal(result.text, result.streamed);
    assert.equal(result.refused, 'signature');
  } finally {
    await browser.close();
    server.closeAllConnections();
    server.close();
  }
});
