// The client: models, inference, chat (streamed or not) and receipts, every answer verified by
// its receipt unless verification is turned off explicitly.

import { InvalidReceipt, NotVerifiedYet, Unreachable, VeritasError, errorOfDetail } from './errors.js';
import { rawValueAt } from './rawjson.js';
import { sseData } from './sse.js';
import { Transport } from './transport.js';
import {
  LEVELS,
  checkChatAnswer,
  checkInferAnswer,
  checkLevel,
  isModelId,
  messageCalls,
  StreamedCalls,
  verifyReceipt,
} from './verify.js';

export class Client {
  #transport;
  #verify;
  #teePolicy;
  #published;
  #wait;

  /**
   * @param {string | string[]} baseUrls the gateway, or several tried in turn
   * @param {object} [options] apiKey or accountKey (hex private key: EIP-191 signed requests),
   *   verify (default true), teePolicy (default: the network's), timeout (ms), retries,
   *   backoff (ms), maxRetryWait (ms), wait (s, for `require`), fetch, headers
   */
  constructor(baseUrls, options = {}) {
    this.#transport = new Transport(baseUrls, options);
    this.#verify = options.verify ?? true;
    this.#teePolicy = options.teePolicy;
    this.#wait = options.wait ?? 60;
  }

  /** The gateway that last answered. */
  get baseUrl() {
    return this.#transport.baseUrl;
  }

  /** The models the gateway serves (OpenAI's list entries, with a `veritas` object each). */
  async models({ signal } = {}) {
    return (await this.#transport.getJson('/v1/models', { signal })).data;
  }

  /** `GET /v1/network`: the chain, its contracts, the claims' domain and the gateway address. */
  async network({ signal } = {}) {
    return this.#transport.getJson('/v1/network', { signal });
  }

  /** `GET /v1/tee/policy`: `{enclave, simulated, warning, policy}`, the network's word. */
  async teeSetup({ signal } = {}) {
    this.#published ??= this.#transport.getJson('/v1/tee/policy', { signal }).catch((err) => {
      this.#published = undefined;
      throw err;
    });
    return this.#published;
  }

  /**
   * Runs a model on named inputs. Returns `{receiptId, model, output, receipt, verification}`
   * (`receipt`: the JSON text as the node sent it).
   */
  async infer(model, input, { mode, verify = this.#verify, require, signal } = {}) {
    checkLevel(require);
    const body = { model, input };
    if (mode !== undefined) body.mode = mode;
    // A `tee` answer's attestation must bind a nonce this client chose.
    const nonce = mode === 'tee' ? randomHex(32) : undefined;
    if (nonce) body.nonce = nonce;
    const { response } = await this.#transport.request('POST', '/v1/infer', { body, paid: true, signal });
    const text = await response.text();
    const answer = JSON.parse(text);
    const receipt = rawValueAt(text, ['receipt']);
    const result = { receiptId: answer.receipt_id, model: answer.model, output: answer.output, receipt, verification: null };
    if (!verify) return result;
    if (receipt === undefined) throw new InvalidReceipt('receipt', 'the answer carries no receipt', { receiptId: answer.receipt_id });
    const report = await this.verify(receipt, { modelId: isModelId(model) ? model : undefined, signal });
    checkInferAnswer(receipt, report, { input, output: answer.output, modelId: answer.model?.id });
    checkMode(receipt, report, mode, nonce);
    result.verification = report;
    return require ? this.#upgrade(result, require, signal) : result;
  }

  /**
   * Chats with a language model. Without `stream`: `{content, completion, receiptId, receipt,
   * verification}`. With `stream: true`: a `ChatStream`, an async iterable of OpenAI chunks
   * whose receipt is verified before the iteration ends. Other options (max_tokens,
   * temperature, seed, stop, …) go into the request as they are; `mode` is the verification mode
   * (`veritas_mode`), and a `tee` answer's attestation must bind a fresh nonce this client chose.
   */
  async chat(model, messages, { stream = false, verify = this.#verify, require, signal, mode, ...params } = {}) {
    checkLevel(require);
    const body = { ...params, model, messages, stream };
    if (mode !== undefined) body.veritas_mode = mode;
    const nonce = mode === 'tee' ? randomHex(32) : undefined;
    if (nonce) body.veritas_nonce = nonce;
    const { response, base } = await this.#transport.request('POST', '/v1/chat/completions', { body, paid: true, stream, signal });
    const expect = { modelId: isModelId(model) ? model : undefined, messages, mode, nonce };
    if (stream) return new ChatStream(response, base, (receipt, content, calls) => this.#checkChat(receipt, content, expect, require, signal, calls), verify);
    const text = await response.text();
    const completion = JSON.parse(text);
    const content = completion.choices?.[0]?.message?.content ?? '';
    const receipt = rawValueAt(text, ['veritas', 'receipt']);
    const result = { content, completion, receiptId: completion.veritas?.receipt_id, receipt, verification: null };
    if (!verify) return result;
    if (receipt === undefined) throw new InvalidReceipt('receipt', 'the answer carries no receipt');
    const calls = messageCalls(completion.choices?.[0]?.message);
    return Object.assign(result, await this.#checkChat(receipt, content, expect, require, signal, calls));
  }

  async #checkChat(receipt, content, { modelId, messages, mode, nonce }, require, signal, calls = []) {
    const report = await this.verify(receipt, { modelId, signal });
    checkChatAnswer(receipt, report, { content, messages, calls });
    checkMode(receipt, report, mode, nonce);
    const result = { receiptId: report.receipt_id, receipt, verification: report };
    return require ? this.#upgrade(result, require, signal) : result;
  }

  /**
   * A logged receipt by id: `{receiptId, receipt, verification}`. `require` waits (up to `wait`
   * seconds) until its badge meets that level: `signed` (the receipt holds), `quorum`
   * (validators vouched for it), `settled` (its batch is on chain); `waitSettled: s` is
   * `require: 'settled', wait: s`.
   */
  async receipt(id, { waitSettled, require, wait, verify = this.#verify, signal } = {}) {
    if (waitSettled !== undefined) {
      require = 'settled';
      wait = waitSettled;
    }
    checkLevel(require);
    const receipt = await this.#receiptText(id, signal);
    const result = { receiptId: id, receipt, verification: null };
    if (!verify) {
      if (require) throw new TypeError('require needs verification: the badge is the verifier\'s');
      return result;
    }
    result.verification = await this.verify(receipt, { signal });
    return require ? this.#upgrade(result, require, signal, wait) : result;
  }

  /**
   * Verifies a receipt's JSON text (keep it as the node sent it): throws `InvalidReceipt`
   * naming the failed check, else returns the verifier's report. `teePolicy` defaults to the
   * client's, else the network's published one (asked only for `tee` receipts). With `rpc` (an
   * Ethereum JSON-RPC URL), a settled receipt's batch is also asked of that chain
   * (`isSettled`): `InvalidReceipt('chain', …)` when the chain does not record it.
   */
  async verify(receipt, { teePolicy, modelId, rpc, signal } = {}) {
    teePolicy ??= this.#teePolicy;
    if (teePolicy === undefined && /"mode"\s*:\s*"tee"/.test(receipt)) teePolicy = (await this.teeSetup({ signal })).policy;
    const report = await verifyReceipt(receipt, { teePolicy, modelId });
    const call = report.chain_check;
    if (rpc === undefined || !call) return report;
    let answer;
    try {
      const response = await fetch(rpc, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_call', params: [{ to: call.to, data: call.data }, 'latest'] }),
        signal,
      });
      answer = await response.json();
    } catch (err) {
      throw new Unreachable([{ url: rpc, reason: err.message }]);
    }
    if (typeof answer.result !== 'string' || !/^0x0*1$/.test(answer.result)) {
      throw new InvalidReceipt('chain', `its batch is not recorded on chain ${call.chain_id} (${JSON.stringify(answer)})`, { receiptId: report.receipt_id });
    }
    return report;
  }

  async #receiptText(id, signal) {
    const { response } = await this.#transport.request('GET', `/v1/receipts/${encodeURIComponent(id)}`, { signal });
    return response.text();
  }

  /** Polls the receipt until its badge meets `require`, for at most `wait` seconds. */
  async #upgrade(result, require, signal, wait = this.#wait) {
    const deadline = Date.now() + wait * 1000;
    while (!LEVELS[require].includes(result.verification.badge)) {
      if (Date.now() >= deadline) throw new NotVerifiedYet(require, result.verification.badge, wait, result.receiptId);
      await new Promise((resolve) => setTimeout(resolve, 500));
      signal?.throwIfAborted();
      const receipt = await this.#receiptText(result.receiptId, signal);
      const report = await this.verify(receipt, { signal });
      // A later receipt adds verdicts and a settlement to the same claim, nothing else.
      if (report.receipt_id !== result.verification.receipt_id) {
        throw new InvalidReceipt('receipt', 'the gateway returned another receipt for this id', { receiptId: result.receiptId, receipt, report });
      }
      result.receipt = receipt;
      result.verification = report;
    }
    return result;
  }
}

/** Checks that the receipt is in the mode asked, with a proof or an attestation for our nonce. */
function checkMode(receipt, report, mode, nonce) {
  const evidence = { receiptId: report.receipt_id, receipt, report };
  if (mode !== undefined && report.mode !== mode) {
    throw new InvalidReceipt('mode', `asked for mode ${mode}, the receipt is in mode ${report.mode}`, evidence);
  }
  if (mode === 'zk' && !report.zk) throw new InvalidReceipt('zk', 'the node answered a zk request without a proof', evidence);
  if (nonce !== undefined && report.tee?.nonce?.replace(/^0x/, '').toLowerCase() !== nonce) {
    throw new InvalidReceipt('nonce', 'the attestation does not bind the nonce this client sent', evidence);
  }
}

function randomHex(bytes) {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * A streamed chat answer: iterate it for OpenAI chunks. The chunk carrying the receipt is
 * yielded only once the receipt holds and signs the text streamed; otherwise the iteration
 * throws `InvalidReceipt`. After it: `content`, `receiptId`, `receipt`, `verification`.
 */
export class ChatStream {
  #response;
  #base;
  #check;
  #verify;

  constructor(response, base, check, verify) {
    this.#response = response;
    this.#base = base;
    this.#check = check;
    this.#verify = verify;
    this.content = '';
    this.calls = new StreamedCalls();
    this.receiptId = undefined;
    this.receipt = undefined;
    this.verification = null;
  }

  async *[Symbol.asyncIterator]() {
    try {
      yield* this.#chunks();
    } catch (err) {
      if (err instanceof VeritasError || err?.name === 'AbortError') throw err;
      throw new Unreachable([{ url: this.#base, reason: `the answer stream broke off: ${err?.cause?.code ?? err?.message ?? err}` }]);
    }
  }

  async *#chunks() {
    let receipted = false;
    for await (const data of sseData(this.#response.body)) {
      if (data === '[DONE]') break;
      const chunk = JSON.parse(data);
      if (chunk.error) throw errorOfDetail(chunk.error.status ?? 500, chunk.error);
      const added = (chunk.choices ?? []).map((choice) => choice.delta?.content ?? '').join('');
      if (receipted && added && this.#verify) {
        throw new InvalidReceipt('output', 'text streamed after the receipt is not signed by it', { receiptId: this.receiptId });
      }
      this.content += added;
      for (const choice of chunk.choices ?? []) this.calls.add(choice.delta?.tool_calls);
      if (chunk.veritas) {
        receipted = true;
        this.receiptId = chunk.veritas.receipt_id;
        this.receipt = rawValueAt(data, ['veritas', 'receipt']);
        if (this.#verify) Object.assign(this, await this.#check(this.receipt, this.content, this.calls.list()));
      }
      yield chunk;
    }
    if (this.#verify && !receipted) throw new InvalidReceipt('receipt', 'the stream ended without a receipt');
  }

  /** Reads the whole stream; returns the text (verified unless verification is off). */
  async text() {
    for await (const _ of this) {
      // Each chunk's text is gathered in `content`.
    }
    return this.content;
  }
}

