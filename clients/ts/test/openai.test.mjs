// The official `openai` client: wrapped, it verifies every completion; through a tampering
// upstream, the wrapped client and this SDK refuse the answer; so does `veritas proxy`.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';

import { Client, InvalidReceipt, wrapOpenAI } from '../src/index.js';
import { MESSAGES, PARAMS, URL_LIVE, needsNetwork, proxyMissing, startProxy, startTamperer } from './network.mjs';

let tamperer;
before(async () => {
  if (URL_LIVE) tamperer = await startTamperer(URL_LIVE);
});
after(async () => {
  await tamperer?.close();
});

const openai = (base) => new OpenAI({ baseURL: `${base}/v1`, apiKey: 'dev', maxRetries: 0 });

test('the wrapped openai client verifies each completion, plain and streamed', { skip: needsNetwork }, async () => {
  const client = wrapOpenAI(openai(URL_LIVE));
  const answer = await client.chat.completions.create({ model: 'smollm2', messages: MESSAGES, ...PARAMS });
  assert.ok(answer.choices[0].message.content.length > 0);
  assert.notEqual(answer.veritas.verification.badge, 'invalid');
  assert.equal(answer.veritas.verification.receipt_id, answer.veritas.receipt_id);

  const stream = await client.chat.completions.create({ model: 'smollm2', messages: MESSAGES, ...PARAMS, stream: true });
  let text = '';
  let verification;
  for await (const chunk of stream) {
    text += chunk.choices?.[0]?.delta?.content ?? '';
    verification ??= chunk.veritas?.verification;
  }
  assert.equal(text, answer.choices[0].message.content);
  assert.notEqual(verification.badge, 'invalid');

  const completion = await client.completions.create({ model: 'smollm2', prompt: 'The capital of France is', ...PARAMS });
  assert.ok(completion.choices[0].text.length > 0);
  assert.notEqual(completion.veritas.verification.badge, 'invalid');
});

test('a tampered upstream: the SDK refuses the answer, plain and streamed', { skip: needsNetwork }, async () => {
  const client = new Client(tamperer.url);
  await assert.rejects(client.chat('smollm2', MESSAGES, PARAMS), (err) => {
    assert.ok(err instanceof InvalidReceipt, err);
    assert.equal(err.check, 'output');
    return true;
  });
  const stream = await client.chat('smollm2', MESSAGES, { ...PARAMS, stream: true });
  await assert.rejects(stream.text(), (err) => {
    assert.ok(err instanceof InvalidReceipt, err);
    assert.equal(err.check, 'output');
    return true;
  });
});

test('a tampered upstream: the wrapped openai client refuses the answer, plain and streamed', { skip: needsNetwork }, async () => {
  const client = wrapOpenAI(openai(tamperer.url));
  await assert.rejects(client.chat.completions.create({ model: 'smollm2', messages: MESSAGES, ...PARAMS }), (err) => {
    assert.ok(err instanceof InvalidReceipt, err);
    assert.equal(err.check, 'output');
    return true;
  });
  const stream = await client.chat.completions.create({ model: 'smollm2', messages: MESSAGES, ...PARAMS, stream: true });
  const seen = [];
  await assert.rejects(
    (async () => {
      for await (const chunk of stream) seen.push(chunk);
    })(),
    (err) => {
      assert.ok(err instanceof InvalidReceipt, err);
      return true;
    },
  );
  assert.ok(!seen.some((chunk) => chunk.veritas), 'the chunk with the receipt is never handed on');
  await assert.rejects(client.completions.create({ model: 'smollm2', prompt: 'The capital of France is', ...PARAMS }), InvalidReceipt);
  // The unwrapped client takes the tampered answer as it is: the tamperer did its work.
  const plain = await openai(tamperer.url).chat.completions.create({ model: 'smollm2', messages: MESSAGES, ...PARAMS });
  assert.match(plain.choices[0].message.content, /Paris|London/);
});

test('veritas proxy: the openai client gets honest answers, and an error for tampered ones', { skip: needsNetwork || proxyMissing() }, async () => {
  const honest = await startProxy(URL_LIVE);
  const tampered = await startProxy(tamperer.url);
  try {
    const answer = await openai(honest.url).chat.completions.create({ model: 'smollm2', messages: MESSAGES, ...PARAMS });
    assert.ok(answer.choices[0].message.content.length > 0);
    await assert.rejects(openai(tampered.url).chat.completions.create({ model: 'smollm2', messages: MESSAGES, ...PARAMS }));
    const stream = await openai(tampered.url).chat.completions.create({ model: 'smollm2', messages: MESSAGES, ...PARAMS, stream: true }).catch((err) => err);
    if (!(stream instanceof Error)) {
      await assert.rejects((async () => {
        for await (const _ of stream) {
          // The proxy must end the stream with an error, never with the receipt.
        }
      })());
    }
  } finally {
    await honest.close();
    await tampered.close();
  }
});

const TOOLS = [{ type: 'function', function: {
  name: 'get_weather',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
} }];
const WEATHER = [{ role: 'user', content: 'What is the weather in Paris?' }];

test('tool calls verify against the text the receipt signs, plain and streamed', { skip: needsNetwork }, async () => {
  const client = wrapOpenAI(openai(URL_LIVE));
  // One call: parallel calls off.
  const request = { model: 'smollm2', messages: WEATHER, tools: TOOLS, tool_choice: 'required', parallel_tool_calls: false, temperature: 0, max_tokens: 64 };
  const answer = await client.chat.completions.create(request);
  assert.equal(answer.choices[0].finish_reason, 'tool_calls');
  assert.equal(answer.choices[0].message.tool_calls.length, 1);
  assert.equal(answer.choices[0].message.tool_calls[0].function.name, 'get_weather');
  assert.notEqual(answer.veritas.verification.badge, 'invalid');
  const stream = await client.chat.completions.create({ ...request, stream: true });
  const names = [];
  let verification;
  for await (const chunk of stream) {
    for (const delta of chunk.choices?.[0]?.delta?.tool_calls ?? []) if (delta.function?.name) names.push(delta.function.name);
    verification ??= chunk.veritas?.verification;
  }
  assert.deepEqual(names, ['get_weather']);
  assert.notEqual(verification.badge, 'invalid');
  // The SDK's own client checks the calls the same way.
  const sdk = new Client(URL_LIVE);
  const own = await sdk.chat('smollm2', WEATHER, { tools: TOOLS, tool_choice: 'required', parallel_tool_calls: false, temperature: 0, max_tokens: 64 });
  assert.equal(own.completion.choices[0].message.tool_calls[0].function.name, 'get_weather');
  assert.notEqual(own.verification.badge, 'invalid');
});
