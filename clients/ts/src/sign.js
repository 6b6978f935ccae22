// EIP-191 signed requests: an account key pays for a request by signing a message naming it
// (crates/primitives/src/request.rs is the reference).

import { secp256k1 } from '@noble/curves/secp256k1.js';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, hexToBytes, utf8ToBytes, randomBytes } from '@noble/hashes/utils.js';

/** The 32-byte private key of a `0x…` hex string (64 digits). */
export function parseKey(hex) {
  const digits = String(hex).trim().replace(/^0x/i, '');
  if (!/^[0-9a-fA-F]{64}$/.test(digits)) throw new TypeError('an account key is 32 bytes of hex (64 digits, 0x optional)');
  return hexToBytes(digits);
}

/** The EIP-55 (checksummed) form of an address, as the node writes it in signed messages. */
export function checksumAddress(address) {
  const lower = String(address).toLowerCase().replace(/^0x/, '');
  if (!/^[0-9a-f]{40}$/.test(lower)) throw new TypeError(`not an address: ${address}`);
  const hash = bytesToHex(keccak_256(utf8ToBytes(lower)));
  let out = '0x';
  for (let i = 0; i < 40; i++) out += parseInt(hash[i], 16) >= 8 ? lower[i].toUpperCase() : lower[i];
  return out;
}

/** The account (checksummed address) of a private key. */
export function accountOf(key) {
  const point = secp256k1.getPublicKey(key, false);
  return checksumAddress(bytesToHex(keccak_256(point.subarray(1)).subarray(12)));
}

/** The request message of request.rs: seven lines naming the chain, gateway and request. */
export function requestMessage({ chainId, gateway, method, path, timestamp, nonce, body }) {
  return [
    'veritas request',
    `chain ${chainId}`,
    `gateway ${checksumAddress(gateway)}`,
    `${method} ${path}`,
    String(timestamp),
    nonce,
    bytesToHex(sha256(body)),
  ].join('\n');
}

/** `personal_sign`: the 65-byte `r ‖ s ‖ v` signature (v 27 or 28) of a text, as hex. */
export function signMessage(key, message) {
  const bytes = utf8ToBytes(message);
  const prefixed = new Uint8Array([...utf8ToBytes(`\x19Ethereum Signed Message:\n${bytes.length}`), ...bytes]);
  const recovered = secp256k1.sign(keccak_256(prefixed), key, { prehash: false, format: 'recovered' });
  // noble's recovered format is the recovery bit first, then r and s (s low).
  const signature = new Uint8Array(65);
  signature.set(recovered.subarray(1, 65), 0);
  signature[64] = 27 + recovered[0];
  return `0x${bytesToHex(signature)}`;
}

/**
 * The headers of a signed request: `body` is the exact bytes sent, `path` without the query.
 * @returns {Record<string, string>}
 */
export function signedHeaders(key, { chainId, gateway, method, path, body, now = Date.now() }) {
  const timestamp = Math.floor(now / 1000);
  const nonce = bytesToHex(randomBytes(16));
  const signature = signMessage(key, requestMessage({ chainId, gateway, method, path, timestamp, nonce, body }));
  return {
    'x-veritas-account': accountOf(key),
    'x-veritas-timestamp': String(timestamp),
    'x-veritas-nonce': nonce,
    'x-veritas-signature': signature,
  };
}
