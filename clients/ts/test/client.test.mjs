// The client against `veritas up`: honest answers verify, a changed receipt does not, a payer
// without funds gets its figures, a stopped gateway is failed over.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';

import { keccak_256 } from '@noble/hashes/sha3.js';

import { Client, InsufficientFunds, InvalidReceipt, Unreachable, accountOf } from '../src/index.js';
import { checkChatAnswer } from '../src/verify.js';
import { IRIS_INPUT, MESSAGES, PARAMS, URL_LIVE, URL_STOPPED, needsNetwork } from './network.mjs';

test('an honest inference verifies: receipt, model, input and output', { skip: needsNetwork }, async () => {
  const client = new Client(URL_LIVE);
  const answer = await client.infer('iris', IRIS_INPUT);
  assert.notEqual(answer.verification.badge, 'invalid');
  assert.equal(answer.verification.receipt_id, answer.receiptId);
  assert.equal(answer.verification.model_id, answer.model.id);
  assert.deepEqual(answer.output.output_label.data, [0]);
  assert.equal(typeof answer.receipt, 'string');
  // Asked by model id, the receipt must name that id.
  const byId = await client.infer(answer.model.id, IRIS_INPUT);
  assert.equal(byId.verification.model_id, answer.model.id);
});

// One honest chat answer, shared: the model is the slow part of these tests.
let honest;
const honestChat = () => (honest ??= new Client(URL_LIVE).chat('smollm2', MESSAGES, PARAMS));

test('an honest chat answer verifies, plain and streamed', { skip: needsNetwork }, async () => {
  const client = new Client(URL_LIVE);
  const plain = await honestChat();
  assert.ok(plain.content.length > 0);
  assert.notEqual(plain.verification.badge, 'invalid');
  assert.equal(plain.receiptId, plain.completion.veritas.receipt_id);

  const stream = await client.chat('smollm2', MESSAGES, { ...PARAMS, stream: true });
  let text = '';
  let chunks = 0;
  for await (const chunk of stream) {
    text += chunk.choices?.[0]?.delta?.content ?? '';
    chunks++;
  }
  assert.ok(chunks > 2, `${chunks} chunks`);
  assert.equal(text, stream.content);
  assert.equal(text, plain.content, 'temperature 0: the same answer');
  assert.notEqual(stream.verification.badge, 'invalid');
});

test('a receipt changed in one byte is an InvalidReceipt naming the check', { skip: needsNetwork }, async () => {
  const client = new Client(URL_LIVE);
  const { receipt, content } = await honestChat();
  await client.verify(receipt);
  const parsed = JSON.parse(receipt);
  const flip = (needle, at) => {
    const index = receipt.indexOf(needle) + at;
    assert.ok(index >= at, needle);
    const changed = receipt[index] === 'a' ? 'b' : 'a';
    return receipt.slice(0, index) + changed + receipt.slice(index + 1);
  };
  const escaped = JSON.stringify(content).slice(1, -1);
  for (const [changed, check] of [
    [flip(`"data":["${escaped}"]`, 10), 'output'],
    [flip(parsed.signature, 10), 'signature'],
    [flip('capital of France', 0), 'input'],
    [flip(parsed.claim.worker, 5), 'signature'],
    [receipt.replace('"temperature":0.0', '"temperature":0.1'), 'params'],
  ]) {
    assert.equal(changed.length, receipt.length);
    assert.notEqual(changed, receipt);
    await assert.rejects(client.verify(changed), (err) => {
      assert.ok(err instanceof InvalidReceipt, err);
      assert.equal(err.check, check, err.message);
      return true;
    });
  }
});

test('an honest receipt shown with other text or for other messages is refused', { skip: needsNetwork }, async () => {
  const { receipt, content, verification } = await honestChat();
  checkChatAnswer(receipt, verification, { content, messages: MESSAGES });
  for (const [shown, check] of [
    [{ content: `${content} `, messages: MESSAGES }, 'output'],
    [{ content, messages: [{ role: 'user', content: 'What is the capital of Spain?' }] }, 'input'],
    [{ content, messages: [{ role: 'system', content: MESSAGES[0].content }] }, 'input'],
    [{ content, prompt: 'another prompt' }, 'input'],
  ]) {
    assert.throws(() => checkChatAnswer(receipt, verification, shown), (err) => err instanceof InvalidReceipt && err.check === check);
  }
});

test('a receipt waits until it is settled on chain', { skip: needsNetwork }, async () => {
  const client = new Client(URL_LIVE);
  const { receiptId } = await client.infer('iris', IRIS_INPUT);
  const settled = await client.receipt(receiptId, { waitSettled: 30 });
  assert.equal(settled.verification.badge, 'settled');
  assert.equal(settled.verification.receipt_id, receiptId);
  assert.ok(JSON.parse(settled.receipt).settlement.batch_root);
  // The chain itself records it.
  const rpc = `${URL_LIVE}/rpc`;
  const confirmed = await client.verify(settled.receipt, { rpc });
  assert.equal(confirmed.badge, 'settled');
  // Claimed alone in a batch of its own (a Merkle path that holds offline), which no chain
  // recorded: only the chain can tell, and it says no.
  const id = Buffer.from(receiptId.slice(2), 'hex');
  const alone = `0x${Buffer.from(keccak_256(id)).toString('hex')}`;
  const moved = JSON.parse(settled.receipt);
  if (moved.settlement.batch_root !== alone) {
    moved.settlement.batch_root = alone;
    moved.settlement.merkle_path = [];
    const text = JSON.stringify(moved);
    assert.equal((await client.verify(text)).badge, 'settled', 'offline, the path holds');
    await assert.rejects(client.verify(text, { rpc }), (err) => err instanceof InvalidReceipt && err.check === 'chain');
  }
});

test('an account without funds gets InsufficientFunds with its figures', { skip: needsNetwork }, async () => {
  const key = `0x${randomBytes(32).toString('hex')}`;
  const client = new Client(URL_LIVE, { accountKey: key });
  await assert.rejects(client.infer('iris', IRIS_INPUT), (err) => {
    assert.ok(err instanceof InsufficientFunds, err);
    assert.equal(err.status, 402);
    assert.equal(err.code, 'insufficient_funds');
    assert.equal(err.account.toLowerCase(), accountOf(Buffer.from(key.slice(2), 'hex')).toLowerCase());
    assert.equal(err.balance, 0n);
    assert.ok(err.price > 0n, `price ${err.price}`);
    return true;
  });
  await assert.rejects(client.chat('smollm2', MESSAGES, { ...PARAMS, stream: true }), InsufficientFunds);
});

test('a funded account signs its requests (EIP-191) and is served', { skip: needsNetwork }, async () => {
  const network = await new Client(URL_LIVE).network();
  // Development account 1 of the test mnemonic: the embedded chain's default payer.
  const key = '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d';
  assert.equal(accountOf(Buffer.from(key.slice(2), 'hex')).toLowerCase(), network.chain.default_payer.toLowerCase());
  const answer = await new Client(URL_LIVE, { accountKey: key }).infer('iris', IRIS_INPUT);
  assert.notEqual(answer.verification.badge, 'invalid');
});

test('a stopped gateway is failed over to the next one', { skip: needsNetwork || (URL_STOPPED ? false : 'VERITAS_STOPPED_URL is not set') }, async () => {
  const client = new Client([URL_STOPPED, URL_LIVE], { retries: 0 });
  const answer = await client.infer('iris', IRIS_INPUT);
  assert.notEqual(answer.verification.badge, 'invalid');
  assert.equal(client.baseUrl, URL_LIVE);
  assert.ok((await client.models()).some((model) => model.id === 'smollm2'));

  await assert.rejects(new Client([URL_STOPPED], { retries: 1, backoff: 10 }).models(), (err) => {
    assert.ok(err instanceof Unreachable, err);
    assert.deepEqual(err.urls, [URL_STOPPED]);
    return true;
  });
});

test('tee answers are attested, bound to this client\'s nonce and labelled', { skip: needsNetwork }, async (t) => {
  const setup = await (await fetch(`${URL_LIVE}/v1/tee/policy`)).json();
  if (!setup.enclave) return t.skip('the network runs no enclave (veritas up --tee simulated)');
  const client = new Client(URL_LIVE);
  const answer = await client.infer('iris', IRIS_INPUT, { mode: 'tee' });
  assert.equal(answer.verification.mode, 'tee');
  assert.equal(answer.verification.tee.label, 'UNTRUSTED / SIMULATED');
  assert.equal(answer.verification.tee.insecure, true);
  const chat = await client.chat('smollm2', MESSAGES, { ...PARAMS, mode: 'tee' });
  assert.equal(chat.verification.mode, 'tee');
  assert.equal(chat.verification.tee.insecure, true);
});
