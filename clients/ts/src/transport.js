// HTTP to one or more gateways: timeouts, retries with backoff on what may be retried, failover
// to the next gateway when one cannot be reached, API keys or EIP-191 signed requests.

import { ApiError, Unreachable, errorOf } from './errors.js';
import { parseKey, signedHeaders } from './sign.js';

const RETRY_STATUSES = new Set([429, 502, 503, 504]);
const encoder = new TextEncoder();

export class Transport {
  #bases;
  #active = 0;
  #options;
  #key;
  #networks = new Map();

  constructor(baseUrls, options = {}) {
    const list = (Array.isArray(baseUrls) ? baseUrls : [baseUrls]).map((url) => String(url).replace(/\/+$/, '').replace(/\/v1$/, ''));
    if (list.length === 0 || list.some((url) => !/^https?:\/\//.test(url))) {
      throw new TypeError('the gateway URLs must be http:// or https:// URLs');
    }
    if (options.apiKey && options.accountKey) throw new TypeError('pay with an apiKey or an accountKey, not both');
    this.#bases = list;
    this.#key = options.accountKey ? parseKey(options.accountKey) : undefined;
    this.#options = {
      timeout: options.timeout ?? 60_000,
      retries: options.retries ?? 3,
      backoff: options.backoff ?? 250,
      maxRetryWait: options.maxRetryWait ?? 10_000,
      apiKey: options.apiKey,
      headers: options.headers ?? {},
      fetch: options.fetch ?? ((...args) => globalThis.fetch(...args)),
    };
  }

  /** The gateway URLs, the one that last answered first. */
  get baseUrls() {
    return [...this.#bases.slice(this.#active), ...this.#bases.slice(0, this.#active)];
  }

  /** The URL of the gateway that last answered (or the first). */
  get baseUrl() {
    return this.#bases[this.#active];
  }

  /**
   * Sends a request to the gateways in turn until one answers with success; returns the
   * response (its body unread) and the gateway it came from. `body`: a JSON value. `paid`:
   * whether the request carries the payer's credentials. `stream`: the timeout covers the
   * headers only (the caller reads the body).
   */
  async request(method, path, { body, paid = false, stream = false, signal } = {}) {
    const bytes = body === undefined ? undefined : encoder.encode(JSON.stringify(body));
    const { retries, backoff, maxRetryWait } = this.#options;
    for (let attempt = 0; ; attempt++) {
      const failures = [];
      let refusal;
      let timedOut = false;
      for (const base of this.baseUrls) {
        let response;
        try {
          const headers = { ...this.#options.headers, accept: stream ? 'text/event-stream' : 'application/json' };
          if (bytes) headers['content-type'] = 'application/json';
          if (paid) Object.assign(headers, await this.#credentials(base, method, path, bytes, signal));
          response = await this.#fetch(`${base}${path}`, { method, headers, body: bytes, signal }, stream);
        } catch (err) {
          if (signal?.aborted) throw signal.reason ?? err;
          if (err instanceof ApiError) {
            refusal = err;
            if (!RETRY_STATUSES.has(err.status)) throw err;
            continue;
          }
          timedOut ||= err.name === 'TimeoutError';
          failures.push({ url: base, reason: reasonOf(err) });
          // A request that was sent and lost may have run and been paid: it is not sent twice.
          if (method !== 'GET' && !neverSent(err)) throw new Unreachable(failures, { timedOut });
          continue;
        }
        if (response.ok) {
          this.#active = this.#bases.indexOf(base);
          return { response, base };
        }
        const text = await response.text().catch(() => '');
        const err = errorOf(response.status, text, { url: base, retryAfterHeader: response.headers.get('retry-after') });
        if (!RETRY_STATUSES.has(response.status)) throw err;
        refusal = err;
      }
      const last = refusal ?? new Unreachable(failures, { timedOut });
      if (attempt >= retries) throw last;
      let wait = backoff * 2 ** attempt * (0.5 + Math.random());
      if (last instanceof ApiError && last.retryAfter !== undefined) {
        if (last.retryAfter * 1000 > maxRetryWait) throw last;
        wait = Math.max(wait, last.retryAfter * 1000);
      }
      await sleep(Math.min(wait, maxRetryWait), signal);
    }
  }

  /** `GET path` as JSON, from whichever gateway answers. */
  async getJson(path, options) {
    const { response } = await this.request('GET', path, options);
    return response.json();
  }

  async #fetch(url, init, stream) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new DOMException('the request timed out', 'TimeoutError')), this.#options.timeout);
    init.signal?.addEventListener('abort', () => controller.abort(init.signal.reason), { once: true });
    try {
      const response = await this.#options.fetch(url, { ...init, signal: controller.signal });
      // A stream's timeout covers its headers; the caller reads its body with no deadline.
      if (stream || !response.ok) return response;
      const text = await response.text();
      return new Response(text, { status: response.status, headers: response.headers });
    } finally {
      clearTimeout(timer);
    }
  }

  async #credentials(base, method, path, bytes, signal) {
    if (this.#options.apiKey) return { authorization: `Bearer ${this.#options.apiKey}` };
    if (!this.#key) return {};
    let network = this.#networks.get(base);
    if (!network) {
      const response = await this.#fetch(`${base}/v1/network`, { method: 'GET', signal }, false);
      if (!response.ok) throw errorOf(response.status, await response.text(), { url: base });
      network = await response.json();
      if (!network.gateway) throw new ApiError(response.status, 'not_a_gateway', `${base} is not a gateway: signed requests go to a network's gateway`, { url: base });
      this.#networks.set(base, network);
    }
    return signedHeaders(this.#key, {
      chainId: network.claim_domain.chain_id,
      gateway: network.gateway,
      method,
      path: path.split('?')[0],
      body: bytes ?? new Uint8Array(),
    });
  }
}

// Errors that mean the request never reached a gateway. A browser names no cause: there a
// failed fetch counts as never sent.
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);
function neverSent(err) {
  if (err.name === 'TimeoutError') return false;
  const code = err.cause?.code;
  return code === undefined || NOT_SENT.has(code);
}

function reasonOf(err) {
  if (err.name === 'TimeoutError') return 'timed out';
  const cause = err.cause;
  return cause?.code ?? cause?.message ?? err.message ?? String(err);
}

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });
}
