// veritas-sdk: a client for veritas gateways whose every answer is verified by its signed
// receipt, offline, with the WebAssembly verifier; and a wrapper for the `openai` client.

export { Client, ChatStream } from './client.js';
export { wrapOpenAI } from './openai.js';
export { describeReceipt, verifyReceipt, verifierReady, LEVELS } from './verify.js';
export { VeritasError, InvalidReceipt, ApiError, InsufficientFunds, RateLimited, Overloaded, Unauthorized, Unreachable, NotVerifiedYet } from './errors.js';
export { accountOf, requestMessage, signMessage } from './sign.js';
