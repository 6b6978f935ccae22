// Types of veritas-sdk (the sources are plain ES modules in src/).

/** How far a receipt has come: `signed` (it holds), `quorum` (validators vouched), `settled` (on chain). */
export type Level = 'signed' | 'quorum' | 'settled';
export type Badge = 'pending' | 'verified' | 'settled' | 'invalid';
export type Mode = 'signed' | 'reexec' | 'zk' | 'tee';
/** What a failed verification names: the verifier's checks, then this client's (mode, nonce). */
export type Check =
  | 'receipt' | 'signature' | 'model' | 'input' | 'output' | 'params'
  | 'verdict' | 'quorum' | 'batch' | 'tee' | 'zk' | 'mode' | 'nonce';

/** The verifier's report on a receipt that holds. */
export interface Verification {
  badge: Badge;
  receipt_id: string;
  worker: string;
  model_id: string;
  mode: Mode;
  /** What the mode guarantees, in words. */
  guarantee: string;
  checks: { name: string; performed: boolean; detail: string }[];
  /** For a `tee` receipt: the enclave's label (`UNTRUSTED / SIMULATED` for the development one). */
  tee?: { label: string; insecure: boolean; assumptions: string[]; nonce?: string } | null;
  zk?: { proof_bytes: number; security_bits: number; layers: number; commitment: string } | null;
  confidential: boolean;
  /** For a settled receipt: the call that asks the chain whether its batch is recorded. */
  chain_check?: { chain_id: number; to: string; data: string } | null;
  /** True when the attestation comes from the simulated enclave: it proves nothing. */
  insecure: boolean;
  error?: string;
  failed_check?: Check;
}

/** A TEE policy (docs/tee.md), as an object or its JSON text. */
export type TeePolicy = object | string;

export interface ClientOptions {
  /** Pays with an API key (`Authorization: Bearer vk_…`). */
  apiKey?: string;
  /** Pays with an account: its private key (hex), which signs each request (EIP-191). */
  accountKey?: string;
  /** Verify every answer (default true); false must be said. */
  verify?: boolean;
  /** The TEE policy `tee` receipts are judged by (default: the one the network publishes). */
  teePolicy?: TeePolicy;
  /** Milliseconds per request (for a stream: until its headers); default 60000. */
  timeout?: number;
  /** Rounds over all gateways after the first (default 3). */
  retries?: number;
  /** The first backoff in milliseconds, doubled each round (default 250). */
  backoff?: number;
  /** The longest wait before a retry, Retry-After included, in ms (default 10000). */
  maxRetryWait?: number;
  /** Seconds `require` waits for a quorum or a settlement (default 60). */
  wait?: number;
  fetch?: typeof fetch;
  headers?: Record<string, string>;
}

export interface CallOptions {
  verify?: boolean;
  /** Wait until the receipt reaches this level (polling, bounded by `wait`). */
  require?: Level;
  signal?: AbortSignal;
}

export interface Verified {
  receiptId: string;
  /** The receipt's JSON text, as the node sent it. */
  receipt: string;
  /** Null only when verification was turned off. */
  verification: Verification | null;
}

export type Values = Record<string, unknown>;

export interface InferAnswer extends Verified {
  model: { name: string; version: number; id: string; manifest: object };
  output: Values;
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | string;
  content: string;
}

export interface ChatAnswer extends Verified {
  /** The answer's text, which the receipt signs. */
  content: string;
  /** The OpenAI-shaped answer, with its `veritas` object. */
  completion: any;
}

export interface ChatOptions extends CallOptions {
  stream?: boolean;
  /** The verification mode (`veritas_mode`); `tee` binds a fresh nonce of this client's. */
  mode?: Mode;
  max_tokens?: number;
  temperature?: number;
  top_p?: number;
  seed?: number;
  stop?: string | string[];
  [param: string]: unknown;
}

/** A streamed chat answer: OpenAI chunks, the receipt's verified before the iteration ends. */
export declare class ChatStream implements AsyncIterable<any> {
  /** The text streamed so far. */
  content: string;
  receiptId: string | undefined;
  receipt: string | undefined;
  verification: Verification | null;
  [Symbol.asyncIterator](): AsyncIterator<any>;
  /** Reads the whole stream and returns its (verified) text. */
  text(): Promise<string>;
}

export declare class Client {
  constructor(baseUrls: string | string[], options?: ClientOptions);
  /** The gateway that last answered. */
  readonly baseUrl: string;
  models(options?: { signal?: AbortSignal }): Promise<any[]>;
  network(options?: { signal?: AbortSignal }): Promise<any>;
  teeSetup(options?: { signal?: AbortSignal }): Promise<{ enclave: string | null; simulated: boolean; warning: string | null; policy: object }>;
  infer(model: string, input: Values, options?: CallOptions & { mode?: Mode }): Promise<InferAnswer>;
  chat(model: string, messages: ChatMessage[], options: ChatOptions & { stream: true }): Promise<ChatStream>;
  chat(model: string, messages: ChatMessage[], options?: ChatOptions & { stream?: false }): Promise<ChatAnswer>;
  receipt(id: string, options?: CallOptions & { waitSettled?: number; wait?: number }): Promise<Verified>;
  /** With `rpc` (an Ethereum JSON-RPC URL), a settled receipt is also confirmed on that chain (`isSettled`). */
  verify(receipt: string, options?: { teePolicy?: TeePolicy; modelId?: string; rpc?: string; signal?: AbortSignal }): Promise<Verification>;
}

/** Verifies a receipt's JSON text offline; throws `InvalidReceipt` when it does not hold. */
export declare function verifyReceipt(receipt: string, options?: { teePolicy?: TeePolicy; modelId?: string }): Promise<Verification>;
/** The verifier's report whatever the badge (an invalid one included). */
export declare function describeReceipt(receipt: string, options?: { teePolicy?: TeePolicy }): Promise<Verification>;
/** Loads the verifier's WebAssembly (done on first use). */
export declare function verifierReady(): Promise<void>;
export declare const LEVELS: Record<Level, Badge[]>;

/**
 * Verifies every completion of an `openai` client (chat and legacy completions, streamed or
 * not), in place; a verified answer carries `veritas.verification`.
 */
export declare function wrapOpenAI<T extends object>(client: T, options?: { verify?: boolean; teePolicy?: TeePolicy; fetch?: typeof fetch }): T;

export declare class VeritasError extends Error {}
export declare class InvalidReceipt extends VeritasError {
  /** The check that failed. */
  check: Check;
  reason: string;
  receiptId?: string;
  receipt?: string;
  report?: Verification;
}
export declare class ApiError extends VeritasError {
  status: number;
  code: string;
  apiMessage: string;
  url?: string;
  /** Seconds to wait before trying again, when the gateway said. */
  retryAfter?: number;
}
export declare class InsufficientFunds extends ApiError {
  account?: string;
  /** Escrow the gateway may charge, in the token's smallest unit. */
  balance?: bigint;
  committed?: bigint;
  price?: bigint;
}
export declare class RateLimited extends ApiError {}
export declare class Overloaded extends ApiError {}
export declare class Unauthorized extends ApiError {}
export declare class Unreachable extends VeritasError {
  failures: { url: string; reason: string }[];
  urls: string[];
  timedOut: boolean;
}
export declare class NotVerifiedYet extends VeritasError {
  required: Level;
  badge: Badge;
  seconds: number;
  receiptId: string;
}

export declare function accountOf(key: Uint8Array): string;
export declare function requestMessage(request: { chainId: number; gateway: string; method: string; path: string; timestamp: number; nonce: string; body: Uint8Array }): string;
export declare function signMessage(key: Uint8Array, message: string): string;
