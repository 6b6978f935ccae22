// The SDK's errors: one class per thing a caller may want to handle, each carrying its figures.

/** Every error this SDK throws on purpose. */
export class VeritasError extends Error {
  constructor(message, options) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * An answer whose receipt does not hold, or that shows something its receipt does not sign.
 * `check` names what failed: the verifier's checks (receipt, signature, model, input, output,
 * params, verdict, quorum, batch, tee, zk).
 */
export class InvalidReceipt extends VeritasError {
  constructor(check, reason, { receiptId, receipt, report } = {}) {
    super(`invalid receipt (${check}): ${reason}`);
    this.check = check;
    this.reason = reason;
    this.receiptId = receiptId;
    this.receipt = receipt;
    this.report = report;
  }
}

/** An error answer of the API: its HTTP status and the API's code and message. */
export class ApiError extends VeritasError {
  constructor(status, code, message, { url, retryAfter } = {}) {
    super(`the gateway refused (${status} ${code}): ${message}`);
    this.status = status;
    this.code = code;
    this.apiMessage = message;
    this.url = url;
    this.retryAfter = retryAfter;
  }
}

/** 402: the paying account cannot cover the price. Amounts in the token's smallest unit. */
export class InsufficientFunds extends ApiError {
  constructor(status, code, message, funds, options) {
    super(status, code, message, options);
    this.account = funds?.account;
    this.balance = toBigInt(funds?.balance);
    this.committed = toBigInt(funds?.committed);
    this.price = toBigInt(funds?.price);
  }
}

/** 429: too many requests; `retryAfter` is the seconds to wait. */
export class RateLimited extends ApiError {}

/** 503: the gateway is overloaded; `retryAfter` is the seconds to wait. */
export class Overloaded extends ApiError {}

/** 401 or 403: an unknown API key, or a signature that does not hold. */
export class Unauthorized extends ApiError {}

/** No gateway answered: each URL tried and why it failed. */
export class Unreachable extends VeritasError {
  constructor(failures, { timedOut = false } = {}) {
    const list = failures.map(({ url, reason }) => `${url} (${reason})`).join(', ');
    super(`cannot reach the gateway: ${list}; is it running? (\`veritas up\`)`);
    this.failures = failures;
    this.urls = failures.map(({ url }) => url);
    this.timedOut = timedOut;
  }
}

/** A receipt that did not reach the required level (quorum, settled) within the time allowed. */
export class NotVerifiedYet extends VeritasError {
  constructor(required, badge, seconds, receiptId) {
    super(`receipt ${receiptId} is still ${badge} after ${seconds} s; required: ${required}`);
    this.required = required;
    this.badge = badge;
    this.seconds = seconds;
    this.receiptId = receiptId;
  }
}

function toBigInt(value) {
  if (value === undefined || value === null) return undefined;
  try {
    return BigInt(value);
  } catch {
    return undefined;
  }
}

/** The error of an error answer's status, body text and Retry-After header. */
export function errorOf(status, text, { url, retryAfterHeader } = {}) {
  let detail;
  try {
    detail = JSON.parse(text)?.error;
  } catch {
    // Not the API's error body: the text itself is the message.
  }
  return errorOfDetail(status, detail ?? { code: 'unknown', message: String(text).slice(0, 300) }, { url, retryAfterHeader });
}

/** The error of an API error object (`{code, message, funds?, retry_after?}`). */
export function errorOfDetail(status, detail, { url, retryAfterHeader } = {}) {
  const code = detail?.code ?? 'unknown';
  const message = detail?.message ?? '';
  const header = Number.parseInt(retryAfterHeader ?? '', 10);
  const retryAfter = detail?.retry_after ?? (Number.isFinite(header) ? header : undefined);
  if (status === 402 || code === 'insufficient_funds') {
    return new InsufficientFunds(status, code, message, detail?.funds, { url });
  }
  if (status === 429 || code === 'rate_limited') return new RateLimited(status, code, message, { url, retryAfter });
  if (status === 503 || code === 'overloaded') return new Overloaded(status, code, message, { url, retryAfter });
  if (status === 401 || status === 403) return new Unauthorized(status, code, message, { url });
  return new ApiError(status, code, message, { url, retryAfter });
}
