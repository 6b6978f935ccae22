// Deciding whether an answer is verified: the WebAssembly verifier's verdict on the receipt, then
// whether the answer shown is what the receipt signs (crates/cli: `check_answer`, `signed_output`).

import { load } from '#wasm-load';
import { describe } from '../pkg/veritas_verifier_wasm.js';
import { InvalidReceipt } from './errors.js';

let loaded;

/** Resolves once the verifier's WebAssembly is loaded (done on first use). */
export function verifierReady() {
  loaded ??= load();
  return loaded;
}

/** The levels `require` takes, and the badges that meet each. */
export const LEVELS = {
  signed: ['pending', 'verified', 'settled'],
  quorum: ['verified', 'settled'],
  settled: ['settled'],
};

/** Throws unless `require` is one of the levels. */
export function checkLevel(require) {
  if (require !== undefined && !(require in LEVELS)) {
    throw new TypeError(`require must be one of ${Object.keys(LEVELS).join(', ')}, got ${require}`);
  }
}

function policyText(teePolicy) {
  if (teePolicy === undefined || teePolicy === null || teePolicy === '') return '';
  return typeof teePolicy === 'string' ? teePolicy : JSON.stringify(teePolicy);
}

/**
 * The verifier's report on a receipt's JSON text, whatever its badge: `{badge, error?,
 * failed_check?, checks, tee?, zk?, receipt_id, worker, model_id, mode, guarantee, …}`, with
 * `insecure` set for a simulated enclave's attestation.
 */
export async function describeReceipt(receipt, { teePolicy } = {}) {
  await verifierReady();
  const report = JSON.parse(describe(String(receipt), policyText(teePolicy)));
  report.insecure = Boolean(report.tee?.insecure);
  return report;
}

/**
 * Verifies a receipt's JSON text offline: throws `InvalidReceipt` naming the failed check when
 * it does not hold (or names another model id than `modelId`), else returns the report.
 * `teePolicy`: the TEE policy a `tee` receipt is judged by (none: every `tee` receipt fails).
 */
export async function verifyReceipt(receipt, { teePolicy, modelId } = {}) {
  const report = await describeReceipt(receipt, { teePolicy });
  const evidence = { receiptId: report.receipt_id, receipt: String(receipt), report };
  if (report.badge === 'invalid') {
    throw new InvalidReceipt(report.failed_check ?? 'receipt', report.error ?? 'the receipt does not hold', evidence);
  }
  if (modelId !== undefined && report.model_id !== modelId) {
    throw new InvalidReceipt('model', `the receipt signs model ${report.model_id}, not ${modelId}`, evidence);
  }
  return report;
}

/** Whether a model reference is a model id (a CIDv1 in base32) rather than a name. */
export function isModelId(model) {
  return /^baga[a-z2-7]{50,}$/.test(model);
}

/** The parsed receipt, or an `InvalidReceipt` (the verifier has passed it, so this is rare). */
export function parseReceipt(receipt) {
  try {
    return JSON.parse(receipt);
  } catch (err) {
    throw new InvalidReceipt('receipt', `not JSON: ${err.message}`);
  }
}

/** The text a language model's receipt signs as its answer, if any. */
export function signedText(parsed) {
  const text = parsed?.body?.output?.text?.data?.[0];
  return typeof text === 'string' ? text : undefined;
}

/**
 * Checks that a chat answer is what its (verified) receipt signs: the text shown, and the
 * messages (chat) or prompt (completions) sent as the receipt's input.
 */
export function checkChatAnswer(receipt, report, { content, messages, prompt, calls = [] }) {
  const parsed = parseReceipt(receipt);
  const evidence = { receiptId: report.receipt_id, receipt, report };
  const signed = signedText(parsed);
  if (signed === undefined) throw new InvalidReceipt('output', 'the receipt signs no text', evidence);
  if (!(calls.length === 0 && signed === content) && !sameToolAnswer(signed, content, calls)) {
    throw new InvalidReceipt('output', `the text returned is not the text the receipt signs, which is: ${JSON.stringify(signed)}`, evidence);
  }
  if (messages !== undefined && !sameMessages(parsed, messages)) {
    throw new InvalidReceipt('input', 'the receipt is about other messages than the ones sent', evidence);
  }
  if (typeof prompt === 'string' && parsed?.body?.input?.prompt?.data?.[0] !== prompt) {
    throw new InvalidReceipt('input', 'the receipt is about another prompt than the one sent', evidence);
  }
}

const OPEN = '<tool_call>';
const CLOSE = '</tool_call>';

/**
 * A chat text's content and tool calls `[[name, arguments]]`, read as the node reads the text
 * it signs (`<tool_call>{"name", "arguments"}</tool_call>` blocks).
 */
export function readToolCalls(text) {
  const content = [];
  const calls = [];
  let rest = text;
  for (;;) {
    const start = rest.indexOf(OPEN);
    if (start < 0) {
      if (calls.length === 0) content.push(rest);
      break;
    }
    if (rest.slice(0, start).trim()) content.push(rest.slice(0, start));
    const end = rest.indexOf(CLOSE, start + OPEN.length);
    if (end < 0) {
      if (calls.length === 0) content.push(rest.slice(start));
      break;
    }
    const body = rest.slice(start + OPEN.length, end).trim();
    let call;
    try {
      const parsed = JSON.parse(body);
      if (typeof parsed?.name === 'string' && parsed.arguments !== undefined) {
        call = [parsed.name, typeof parsed.arguments === 'string' ? parsed.arguments : JSON.stringify(parsed.arguments)];
      }
    } catch {
      call = undefined;
    }
    if (call) calls.push(call);
    else content.push(`${OPEN}\n${body}\n${CLOSE}`);
    rest = rest.slice(end + CLOSE.length);
  }
  return { content: content.join('').trimEnd(), calls };
}

function sameJson(a, b) {
  try {
    return JSON.stringify(canonical(JSON.parse(a))) === JSON.stringify(canonical(JSON.parse(b)));
  } catch {
    return false;
  }
}

function canonical(value) {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.keys(value).sort().map((key) => [key, canonical(value[key])]));
  }
  return value;
}

function sameToolAnswer(signed, content, calls) {
  const read = readToolCalls(signed);
  return (
    read.content === (content ?? '') &&
    read.calls.length === calls.length &&
    calls.every(([name, args], i) => name === read.calls[i][0] && sameJson(args, read.calls[i][1]))
  );
}

/** The tool calls of an answer's message, as `[[name, arguments]]`. */
export function messageCalls(message) {
  return (message?.tool_calls ?? []).map((call) => [call.function?.name ?? '', call.function?.arguments ?? '']);
}

/** Gathers streamed tool-call deltas by index; `list()` gives `[[name, arguments]]`. */
export class StreamedCalls {
  #calls = new Map();

  add(deltas) {
    for (const delta of deltas ?? []) {
      const [name, args] = this.#calls.get(delta.index ?? 0) ?? ['', ''];
      this.#calls.set(delta.index ?? 0, [name + (delta.function?.name ?? ''), args + (delta.function?.arguments ?? '')]);
    }
  }

  list() {
    return [...this.#calls.keys()].sort((a, b) => a - b).map((index) => this.#calls.get(index));
  }
}

function sameMessages(parsed, messages) {
  const field = parsed?.body?.input?.messages?.data?.[0];
  if (typeof field !== 'string') return false;
  let signed;
  try {
    signed = JSON.parse(field);
  } catch {
    return false;
  }
  if (!Array.isArray(signed) || signed.length !== messages.length) return false;
  return messages.every((sent, i) => {
    const got = signed[i];
    if (got?.role !== sent.role) return false;
    // Only plain text content is compared: other shapes the node may normalise.
    return typeof sent.content !== 'string' || got.content === sent.content;
  });
}

/**
 * Checks that an inference answer is what its (verified) receipt signs: the model named, the
 * input sent and the output returned.
 */
export function checkInferAnswer(receipt, report, { input, output, modelId }) {
  const parsed = parseReceipt(receipt);
  const evidence = { receiptId: report.receipt_id, receipt, report };
  if (modelId !== undefined && modelId !== parsed.claim?.model_id) {
    throw new InvalidReceipt('model', 'the model the gateway names is not the one its receipt signs', evidence);
  }
  const signedInput = parsed.body?.input;
  if (!signedInput || !sameInput(input, signedInput)) {
    throw new InvalidReceipt('input', 'the receipt is about another input than the one sent', evidence);
  }
  if (parsed.body?.output === undefined || !deepEqual(parsed.body.output, output)) {
    throw new InvalidReceipt('output', 'the output returned is not the output the receipt signs', evidence);
  }
}

function sameInput(sent, signed) {
  const names = Object.keys(sent ?? {});
  if (names.length !== Object.keys(signed).length) return false;
  return names.every((name) => {
    const value = sent[name];
    const tensor = signed[name];
    if (!tensor || !Array.isArray(tensor.data)) return false;
    const typed = value && !Array.isArray(value) && typeof value === 'object' && 'data' in value;
    const shape = typed ? value.shape : shapeOf(value);
    const data = typed ? value.data : [value].flat(Infinity);
    if (shape && !deepEqual(shape, tensor.shape)) return false;
    if (data.length !== tensor.data.length) return false;
    const same = tensor.dtype === 'float32' ? (a, b) => Math.fround(a) === Math.fround(b) : (a, b) => deepEqual(a, b);
    return data.every((element, i) => same(element, tensor.data[i]));
  });
}

function shapeOf(value) {
  const shape = [];
  while (Array.isArray(value)) {
    shape.push(value.length);
    value = value[0];
  }
  return shape;
}

function deepEqual(a, b) {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((key) => Object.hasOwn(b, key) && deepEqual(a[key], b[key]));
}
