// Compiled (not run) by types.test.mjs: the declarations in index.d.ts fit their use.
import OpenAI from 'openai';
import { Client, InvalidReceipt, InsufficientFunds, RateLimited, Unreachable, wrapOpenAI, verifyReceipt, type Verification } from 'veritas-sdk';

async function use(): Promise<void> {
  const client = new Client(['http://127.0.0.1:7700', 'http://127.0.0.1:7701'], { accountKey: '0x01', timeout: 5000 });
  const answer = await client.infer('iris', { float_input: [[5.1, 3.5, 1.4, 0.2]] }, { mode: 'reexec', require: 'quorum' });
  const badge: string = answer.verification!.badge;
  const chat = await client.chat('smollm2', [{ role: 'user', content: 'Hi' }], { max_tokens: 8 });
  const text: string = chat.content;
  const stream = await client.chat('smollm2', [{ role: 'user', content: 'Hi' }], { stream: true });
  for await (const chunk of stream) console.log(chunk.choices[0]?.delta?.content);
  const report: Verification = await verifyReceipt(chat.receipt, { teePolicy: {} });
  const settled = await client.receipt(chat.receiptId, { waitSettled: 30 });
  try {
    await client.verify(settled.receipt);
  } catch (err) {
    if (err instanceof InvalidReceipt) console.log(err.check);
    else if (err instanceof InsufficientFunds) console.log(err.balance! < err.price!);
    else if (err instanceof RateLimited) console.log(err.retryAfter);
    else if (err instanceof Unreachable) console.log(err.urls);
  }
  const openai = wrapOpenAI(new OpenAI({ baseURL: 'http://127.0.0.1:7700/v1', apiKey: 'dev' }));
  const completion = await openai.chat.completions.create({ model: 'smollm2', messages: [{ role: 'user', content: 'Hi' }] });
  console.log(badge, text, report.insecure, completion.choices[0]?.message.content);
}
void use;
