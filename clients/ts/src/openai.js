// A wrapper for the official `openai` client: every completion from a veritas gateway is
// verified by its receipt before the caller sees it (streamed: before the iteration ends).

import { InvalidReceipt, errorOf } from './errors.js';
import { StreamedCalls, checkChatAnswer, isModelId, messageCalls, verifyReceipt } from './verify.js';

/**
 * Wraps `client.chat.completions.create` and `client.completions.create` of an `openai` client
 * (in place; returns the client). Options: `verify` (default true; false leaves the client as
 * it is), `teePolicy` (default: the network's published one, for `tee` receipts), `fetch`.
 * A verified answer carries the verifier's report in `answer.veritas.verification`.
 */
export function wrapOpenAI(client, { verify = true, teePolicy, fetch = (...args) => globalThis.fetch(...args) } = {}) {
  if (!verify) return client;
  const base = () => String(client.baseURL).replace(/\/+$/, '').replace(/\/v1$/, '');
  const context = { base, teePolicy, fetch };
  wrap(client.chat.completions, context, (answer) => answer.choices?.[0]?.message?.content ?? '', (chunk) => chunk.choices?.map((c) => c.delta?.content ?? '').join('') ?? '', true);
  if (client.completions?.create) {
    wrap(client.completions, context, (answer) => answer.choices?.[0]?.text ?? '', (chunk) => chunk.choices?.map((c) => c.text ?? '').join('') ?? '', false);
  }
  return client;
}

function wrap(resource, context, contentOf, deltaOf, chat) {
  const create = resource.create.bind(resource);
  resource.create = async (params, options) => {
    const answer = await create(params, options);
    const expect = {
      modelId: isModelId(params.model) ? params.model : undefined,
      messages: chat ? params.messages : undefined,
      prompt: chat ? undefined : params.prompt,
    };
    if (!params.stream) {
      const calls = chat ? messageCalls(answer.choices?.[0]?.message) : [];
      await check(context, answer.veritas?.receipt_id, contentOf(answer), expect, calls).then((report) => {
        answer.veritas.verification = report;
      });
      return answer;
    }
    return verifiedStream(answer, context, deltaOf, expect);
  };
}

function verifiedStream(stream, context, deltaOf, expect) {
  const verified = {
    controller: stream.controller,
    async *[Symbol.asyncIterator]() {
      let content = '';
      const calls = new StreamedCalls();
      let receiptId;
      for await (const chunk of stream) {
        const added = deltaOf(chunk);
        for (const choice of chunk.choices ?? []) calls.add(choice.delta?.tool_calls);
        if (receiptId !== undefined && added) {
          throw new InvalidReceipt('output', 'text streamed after the receipt is not signed by it', { receiptId });
        }
        content += added;
        if (chunk.veritas) {
          receiptId = chunk.veritas.receipt_id;
          chunk.veritas.verification = await check(context, receiptId, content, expect, calls.list());
        }
        yield chunk;
      }
      if (receiptId === undefined) throw new InvalidReceipt('receipt', 'the stream ended without a receipt');
    },
  };
  return verified;
}

async function check(context, receiptId, content, { modelId, messages, prompt }, calls = []) {
  if (typeof receiptId !== 'string' || !/^0x[0-9a-fA-F]{64}$/.test(receiptId)) {
    throw new InvalidReceipt('receipt', 'the answer carries no receipt id');
  }
  const base = context.base();
  // The receipt as the node wrote it (the parsed answer has lost its exact JSON).
  const response = await context.fetch(`${base}/v1/receipts/${receiptId}`);
  const receipt = await response.text();
  if (!response.ok) throw errorOf(response.status, receipt, { url: base });
  let teePolicy = context.teePolicy;
  if (teePolicy === undefined && /"mode"\s*:\s*"tee"/.test(receipt)) {
    teePolicy = (await (await context.fetch(`${base}/v1/tee/policy`)).json()).policy;
  }
  const report = await verifyReceipt(receipt, { teePolicy, modelId });
  if (report.receipt_id !== receiptId) {
    throw new InvalidReceipt('receipt', `asked for receipt ${receiptId}, got ${report.receipt_id}`, { receiptId, receipt, report });
  }
  checkChatAnswer(receipt, report, { content, messages, prompt, calls });
  return report;
}
