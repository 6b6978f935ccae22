// What needs no network: the verifier on the golden receipt, signed requests, raw JSON, and the
// transport's retries, backoff and failover against loopback servers that answer as told.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { once } from 'node:events';

import { Client, InvalidReceipt, RateLimited, Overloaded, ApiError, Unreachable, InsufficientFunds, verifyReceipt, accountOf, requestMessage, signMessage } from '../src/index.js';
import { rawValueAt } from '../src/rawjson.js';
import { freePort } from './network.mjs';

const golden = readFileSync(new URL('../../../crates/primitives/tests/fixtures/receipt_v2.json', import.meta.url), 'utf8');

test('the golden receipt verifies; any byte of its claim or signature changed does not', async () => {
  const report = await verifyReceipt(golden);
  assert.equal(report.badge, 'pending');
  const parsed = JSON.parse(golden);
  for (const [needle, check] of [
    [parsed.signature.slice(2, 12), 'signature'],
    [parsed.claim.output_hash.slice(2, 12), 'output'],
    [parsed.claim.input_hash.slice(2, 12), 'input'],
    [parsed.claim.params_hash.slice(2, 12), 'params'],
  ]) {
    const index = golden.indexOf(needle) + 3;
    const changed = golden.slice(0, index) + (golden[index] === 'a' ? 'b' : 'a') + golden.slice(index + 1);
    await assert.rejects(verifyReceipt(changed), (err) => {
      assert.ok(err instanceof InvalidReceipt, err);
      // A changed hash in the claim breaks the signature first, or the hash check names it.
      assert.ok([check, 'signature'].includes(err.check), `${needle}: ${err.check}: ${err.message}`);
      return true;
    });
  }
  await assert.rejects(verifyReceipt('{"version": 2'), (err) => err instanceof InvalidReceipt && err.check === 'receipt');
  await assert.rejects(verifyReceipt(golden, { modelId: 'bagaaieraother' }), (err) => err.check === 'model');
});

test('signed requests: the message and signature request.rs documents', () => {
  const message = requestMessage({
    chainId: 31337,
    gateway: '0x70997970c51812dc3a010c7d01b50e0d17dc79c8',
    method: 'POST',
    path: '/v1/infer',
    timestamp: 1767225600,
    nonce: '9f86d081884c7d659a2feaa0c55ad015',
    body: new TextEncoder().encode('{}'),
  });
  assert.equal(message, [
    'veritas request',
    'chain 31337',
    'gateway 0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
    'POST /v1/infer',
    '1767225600',
    '9f86d081884c7d659a2feaa0c55ad015',
    '44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
  ].join('\n'));
  const key = Buffer.from('59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d', 'hex');
  assert.equal(accountOf(key), '0x70997970C51812dc3A010C7d01b50e0d17dc79C8');
  // What viem 2.57.20's `privateKeyToAccount(key).signMessage({ message })` gives.
  assert.equal(
    signMessage(key, message),
    '0xe38d86ba28bc67a078e176186ad34039552e5a97bb47dfa237feea96fc8ba38268a39fb475cf5d6308f736eb99669cde956b570646eda674b16638d4737db20c1b',
  );
});

test('the raw text of a value inside JSON', () => {
  const text = '{"a": {"s": "x\\"}]", "b" : [1.0, {"c": 2}], "c": 1.0}, "d": true}';
  for (const [path, expected] of [
    [['a', 'c'], '1.0'],
    [['a', 'b'], '[1.0, {"c": 2}]'],
    [['a', 's'], '"x\\"}]"'],
    [['d'], 'true'],
    [['a', 'x'], undefined],
    [['d', 'e'], undefined],
  ]) {
    assert.equal(rawValueAt(text, path), expected, path.join('.'));
  }
});

/** A loopback server answering each request with the next of `answers` ([status, body, headers]). */
async function scripted(answers) {
  const seen = [];
  const server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    const [status, body, headers = {}] = answers[Math.min(seen.length - 1, answers.length - 1)];
    if (status === 'hang') return;
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${server.address().port}`, seen, close: () => { server.closeAllConnections(); server.close(); } };
}

const models = { object: 'list', data: [{ id: 'iris' }] };
const error = (code, extra = {}) => ({ error: { code, message: code, ...extra } });

test('retries: 503 and 429 are retried with backoff, a 400 is not', async () => {
  const flaky = await scripted([[503, error('overloaded', { retry_after: 0 })], [429, error('rate_limited', { retry_after: 0 })], [200, models]]);
  try {
    assert.deepEqual((await new Client(flaky.url, { backoff: 1 }).models()).map((m) => m.id), ['iris']);
    assert.equal(flaky.seen.length, 3);
  } finally {
    flaky.close();
  }
  const limited = await scripted([[429, error('rate_limited', { retry_after: 0 }), { 'retry-after': '0' }]]);
  try {
    await assert.rejects(new Client(limited.url, { retries: 2, backoff: 1 }).models(), (err) => err instanceof RateLimited && err.retryAfter === 0);
    assert.equal(limited.seen.length, 3);
  } finally {
    limited.close();
  }
  const long = await scripted([[429, error('rate_limited', { retry_after: 120 })]]);
  try {
    await assert.rejects(new Client(long.url, { backoff: 1 }).models(), (err) => err instanceof RateLimited && err.retryAfter === 120);
    assert.equal(long.seen.length, 1, 'a wait longer than maxRetryWait is the caller\'s to decide');
  } finally {
    long.close();
  }
  const busy = await scripted([[503, error('overloaded', { retry_after: 0 })]]);
  try {
    await assert.rejects(new Client(busy.url, { retries: 1, backoff: 1 }).infer('iris', {}), (err) => err instanceof Overloaded && err.status === 503);
    assert.equal(busy.seen.length, 2);
  } finally {
    busy.close();
  }
  const bad = await scripted([[400, error('bad_request')]]);
  try {
    await assert.rejects(new Client(bad.url).models(), (err) => err instanceof ApiError && err.status === 400 && err.code === 'bad_request');
    assert.equal(bad.seen.length, 1);
  } finally {
    bad.close();
  }
  const broke = await scripted([[402, error('insufficient_funds', { funds: { account: '0xab', balance: '5', committed: '2', price: '1000000000000000000000' } })]]);
  try {
    await assert.rejects(new Client(broke.url).infer('iris', {}), (err) => {
      assert.ok(err instanceof InsufficientFunds);
      assert.deepEqual([err.account, err.balance, err.committed, err.price], ['0xab', 5n, 2n, 10n ** 21n]);
      return true;
    });
  } finally {
    broke.close();
  }
});

test('failover, timeouts and unreachable gateways', async () => {
  const nobody = `http://127.0.0.1:${await freePort()}`;
  const live = await scripted([[200, models]]);
  const hanging = await scripted([['hang']]);
  try {
    const client = new Client([nobody, live.url], { retries: 0 });
    await client.models();
    assert.equal(client.baseUrl, live.url);
    await assert.rejects(new Client([nobody], { retries: 1, backoff: 1 }).models(), (err) => {
      assert.ok(err instanceof Unreachable);
      assert.equal(err.failures.length, 1);
      assert.equal(err.failures[0].reason, 'ECONNREFUSED');
      return true;
    });
    await assert.rejects(new Client(hanging.url, { timeout: 200, retries: 0 }).models(), (err) => err instanceof Unreachable && err.timedOut);
    // A POST that timed out may have run (and been paid): it is not sent again elsewhere.
    await assert.rejects(new Client([hanging.url, live.url], { timeout: 200 }).infer('iris', {}), (err) => err instanceof Unreachable && err.timedOut);
    assert.equal(live.seen.length, 1);
  } finally {
    live.close();
    hanging.close();
  }
});

test('a stream that breaks off, or ends without its receipt, is not taken as an answer', async () => {
  const chunk = { choices: [{ index: 0, delta: { content: 'Hello' }, finish_reason: null }] };
  for (const [end, expected] of [
    [(res) => res.destroy(), Unreachable],
    [(res) => res.end('data: [DONE]\n\n'), InvalidReceipt],
    [(res) => res.end(`data: ${JSON.stringify({ error: { code: 'overloaded', message: 'busy' } })}\n\n`), Overloaded],
  ]) {
    const server = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(`data: ${JSON.stringify(chunk)}\n\n`);
      setImmediate(() => end(res));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const stream = await new Client(`http://127.0.0.1:${server.address().port}`).chat('smollm2', [], { stream: true });
      await assert.rejects(stream.text(), expected);
      assert.equal(stream.content, 'Hello');
    } finally {
      server.closeAllConnections();
      server.close();
    }
  }
});
