// What the tests share: the network under test (from the environment), a tampering upstream
// and free ports.

import { createServer } from 'node:http';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';

/** The gateway of `veritas up` (chat model `smollm2`, ONNX model `iris`). */
export const URL_LIVE = process.env.VERITAS_URL?.replace(/\/+$/, '');
/** A gateway that was running and was stopped. */
export const URL_STOPPED = process.env.VERITAS_STOPPED_URL?.replace(/\/+$/, '');
/** The `veritas` binary. */
export const BIN = process.env.VERITAS_BIN;

/** `skip` for tests that need the live network. */
export const needsNetwork = URL_LIVE ? false : 'VERITAS_URL is not set: these tests run against `veritas up` (crates/cli/tests start one)';

export const IRIS_INPUT = { float_input: [[5.1, 3.5, 1.4, 0.2]] };
export const MESSAGES = [{ role: 'user', content: 'What is the capital of France?' }];
export const PARAMS = { max_tokens: 8, temperature: 0 };

/** The text with its first word changed: one token of an answer, tampered with. */
export function tamperText(text) {
  const match = /^(\s*)(\S+)/.exec(text);
  if (!match) return `${text} Paris`;
  return `${match[1]}${match[2] === 'Paris' ? 'London' : 'Paris'}${text.slice(match[0].length)}`;
}

/**
 * An upstream that forwards every request to `target` and changes one token of each chat or
 * completion answer's text: in the JSON answer, and in the first streamed chunk with text. The
 * receipts it forwards (in the answers and at /v1/receipts) are left byte for byte as they are.
 */
export async function startTamperer(target) {
  const server = createServer(async (req, res) => {
    try {
      const chunks = [];
      for await (const chunk of req) chunks.push(chunk);
      const headers = { ...req.headers };
      delete headers.host;
      delete headers['content-length'];
      delete headers['accept-encoding'];
      const upstream = await fetch(`${target}${req.url}`, {
        method: req.method,
        headers,
        body: chunks.length ? Buffer.concat(chunks) : undefined,
      });
      const answerHeaders = Object.fromEntries([...upstream.headers].filter(([name]) => !['content-length', 'content-encoding', 'transfer-encoding'].includes(name)));
      res.writeHead(upstream.status, answerHeaders);
      const tamper = req.method === 'POST' && /\/v1\/(chat\/)?completions$/.test(req.url) && upstream.ok;
      if (!tamper) {
        res.end(Buffer.from(await upstream.arrayBuffer()));
      } else if ((upstream.headers.get('content-type') ?? '').includes('text/event-stream')) {
        await tamperStream(upstream.body, res);
      } else {
        res.end(tamperJson(await upstream.text()));
      }
    } catch (err) {
      res.destroy(err);
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((resolve) => server.close(resolve)) };
}

// The first `"content":"…"` or `"text":"…"` of the answer's choices: the receipt's own copies
// are inside its body, as `"data":[…]`, and are not touched.
function tamperField(text) {
  return text.replace(/"(content|text)":("(?:[^"\\]|\\.)*")/, (_, field, value) => {
    const original = JSON.parse(value);
    if (!original) return `"${field}":${value}`;
    return `"${field}":${JSON.stringify(tamperText(original))}`;
  });
}

function tamperJson(text) {
  return tamperField(text);
}

async function tamperStream(body, res) {
  let buffer = '';
  let tampered = false;
  const decoder = new TextDecoder();
  for await (const bytes of body) {
    buffer += decoder.decode(bytes, { stream: true });
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      let event = buffer.slice(0, end + 2);
      buffer = buffer.slice(end + 2);
      if (!tampered && /"(content|text)":"[^"]/.test(event) && !event.includes('"veritas"')) {
        event = tamperField(event);
        tampered = true;
      }
      res.write(event);
    }
  }
  res.end(buffer);
}

/** A loopback port nothing listens on now. */
export async function freePort() {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Why `veritas proxy` cannot be tested here, or false. */
export function proxyMissing() {
  if (!BIN) return 'VERITAS_BIN is not set';
  const help = spawnSync(BIN, ['proxy', '--help'], { encoding: 'utf8' });
  if (help.status !== 0) return `\`veritas proxy --help\` failed (${(help.stderr || help.error?.message || '').trim().split('\n')[0]}): the proxy is not built yet`;
  return false;
}

/** Starts `veritas proxy --upstream upstream`; resolves once it answers. */
export async function startProxy(upstream) {
  const port = await freePort();
  const child = spawn(BIN, ['proxy', '--upstream', upstream, '--listen', `127.0.0.1:${port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (data) => {
    stderr += data;
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`veritas proxy exited (${child.exitCode}): ${stderr}`);
    try {
      await fetch(`${url}/v1/models`);
      break;
    } catch {
      if (Date.now() > deadline) {
        child.kill();
        throw new Error(`veritas proxy did not answer within 20 s: ${stderr}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  return {
    url,
    close: async () => {
      child.kill();
      if (child.exitCode === null) await once(child, 'exit');
    },
  };
}
