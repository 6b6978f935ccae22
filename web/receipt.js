// What the chat and the explorer show of a receipt, decided in this browser: the verifier
// compiled to WebAssembly (web/pkg) checks the receipt alone, and for a settled receipt this
// page asks the chain itself (the node's /rpc) whether the batch is recorded and the receipt
// is in it.

import init, { describe, check_enclave } from '/assets/pkg/veritas_verifier_wasm.js';

export { check_enclave };

export const verifier = init();

/**
 * The network's TEE setup as its node publishes it: {enclave, simulated, warning, policy}. The
 * policy says which enclaves `tee` receipts may come from; it is the node's word, shown as such.
 */
export const teeSetup = fetch('/v1/tee/policy')
  .then((r) => (r.ok ? r.json() : {}))
  .catch(() => ({}));

/**
 * The verifier's verdict on a receipt, given as the JSON text the node sent: {badge, error?,
 * guarantee, checks, chain_check?, tee?, …}. The text, not a parsed object: JavaScript's
 * JSON.parse turns 1.0 into 1, and the parameters' hash covers their exact JSON. A `tee`
 * receipt is checked against the network's published TEE policy.
 */
export async function judge(text) {
  await verifier;
  const setup = await teeSetup;
  const shown = JSON.parse(describe(text, setup.policy ? JSON.stringify(setup.policy) : ''));
  // A language model's answer: the text the receipt signs (its hash checked by the verifier
  // above), for the page to compare with the text it showed.
  try {
    const signed = JSON.parse(text).body?.output?.text?.data?.[0];
    if (typeof signed === 'string') shown.text = signed;
  } catch {
    // Not JSON: the verifier has said so.
  }
  return shown;
}

/** A receipt's JSON text, as the node stores it. */
export async function fetchReceipt(id) {
  let response;
  try {
    response = await fetch(`/v1/receipts/${encodeURIComponent(id)}`);
  } catch {
    throw new Error('The node cannot be reached. Is `veritas up` still running?');
  }
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    throw new Error(body.error?.message || `receipt ${id}: HTTP ${response.status}`);
  }
  return response.text();
}

async function rpc(method, params) {
  const response = await fetch('/rpc', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  if (!response.ok) throw new Error(`/rpc: HTTP ${response.status}`);
  const answer = await response.json();
  if (answer.error) throw new Error(answer.error.message || 'JSON-RPC error');
  return answer.result;
}

/**
 * Asks the chain whether a settled receipt's batch is recorded with the receipt in it.
 * `confirmed`: yes; `missing`: the chain says no (the receipt's settlement is false);
 * `unavailable`: this node offers no chain to ask (the Merkle path alone was checked).
 */
export async function confirmOnChain(shown) {
  const check = shown.chain_check;
  if (!check) return null;
  try {
    const chainId = Number(BigInt(await rpc('eth_chainId', [])));
    if (chainId !== check.chain_id) {
      return { state: 'missing', detail: `this node's chain is ${chainId}, the receipt settled on chain ${check.chain_id}` };
    }
    const block = Number(BigInt(await rpc('eth_blockNumber', [])));
    const word = await rpc('eth_call', [{ to: check.to, data: check.data }, 'latest']);
    if (/^0x0*1$/.test(word)) return { state: 'confirmed', detail: `isSettled holds at block ${block}`, block };
    return { state: 'missing', detail: `the settlement contract ${check.to} does not record this batch with this receipt` };
  } catch (err) {
    return { state: 'unavailable', detail: `the chain could not be asked: ${err.message}` };
  }
}

export const LABELS = {
  pending: 'pending — waiting for validators',
  verified: 'verified — a quorum of validators',
  settled: 'settled on chain',
  invalid: 'INVALID',
};

/**
 * The badge to show: the verifier's, turned invalid when the chain denies the settlement or a
 * `tee` attestation binds another nonce than the one this page sent (`nonce`, hex, if any). A
 * simulated enclave's badge always says UNTRUSTED / SIMULATED.
 */
export function badgeOf(shown, chain, nonce, text) {
  if (text !== undefined && shown.badge !== 'invalid' && shown.text !== undefined && shown.text !== text) {
    return { badge: 'invalid', label: 'INVALID — the text shown is not the text the receipt signs', title: `the receipt signs:\n${shown.text}` };
  }
  if (shown.badge === 'settled' && chain?.state === 'missing') {
    return { badge: 'invalid', label: 'INVALID — not on chain', title: chain.detail };
  }
  if (nonce && shown.tee && shown.tee.nonce !== nonce) {
    return { badge: 'invalid', label: 'INVALID — attestation for another request', title: 'the attestation binds another nonce than the one this page sent' };
  }
  let label = LABELS[shown.badge] || shown.badge;
  if (shown.badge === 'settled' && chain?.state === 'confirmed') label = 'settled on chain ✓';
  if (shown.badge === 'settled' && chain?.state === 'unavailable') label = 'settled (path checked; chain not asked)';
  if (shown.tee?.insecure) label = `UNTRUSTED / SIMULATED enclave · ${label}`;
  else if (shown.tee) label = `${shown.tee.label} · ${label}`;
  if (shown.confidential) label = `confidential · ${label}`;
  else if (shown.zk) label = `proof verified · ${label}`;
  const title = chain?.detail || shown.error || (shown.tee ? shown.tee.assumptions.join('\n') : shown.guarantee) || '';
  return { badge: shown.badge, label, title, tee: shown.tee?.insecure ? 'simulated' : shown.tee ? 'attested' : '' };
}

/** A definition list of what the receipt (JSON text) says and what was checked. */
export function receiptDetails(text, shown, chain) {
  let r;
  try {
    r = JSON.parse(text);
  } catch {
    r = {};
  }
  const s = r.settlement;
  const rows = [
    ['badge', badgeOf(shown, chain).label],
    ['why', shown.error || ''],
    ['receipt id', shown.receipt_id || ''],
    ['model', `${r.body?.model_name ?? '?'} (version ${r.body?.model_version ?? '?'})`],
    ['model id', r.claim?.model_id],
    ['mode', `${r.claim?.mode}: ${shown.guarantee || ''}`],
    ['enclave', shown.tee ? shown.tee.label : ''],
    ['confidential', shown.confidential ? 'the input and output were sealed to the enclave: the receipt holds commitments to them, which only the sender can open' : ''],
    ['tee policy', shown.tee ? 'the allowlist and platform policy this node publishes at /v1/tee/policy (its word: a reader who trusts another verifies with `veritas verify --tee-policy`)' : ''],
    ...(shown.tee?.assumptions || []).map((line) => ['tee', line]),
    ['zk proof', shown.zk ? `verified in this browser: ${shown.zk.proof_bytes} bytes, ${shown.zk.security_bits} bits of proven soundness, ${shown.zk.layers} layers` : ''],
    ['model commitment', shown.zk ? shown.zk.commitment : ''],
    ['zk proves', shown.zk?.proven || ''],
    ['zk reveals', shown.zk?.reveals || ''],
    ['worker', r.claim?.worker],
    ['input hash', r.claim?.input_hash],
    ['output hash', r.claim?.output_hash],
    ...(r.verdicts || []).map((v) => ['verdict', `${v.valid ? 'valid' : 'INVALID'} — validator ${v.validator}, ${v.check} check`]),
    ['batch root', s?.batch_root || 'not settled yet'],
    ['transaction', s ? `${s.transaction} (block ${s.block}, chain ${s.chain_id})` : ''],
    ['Merkle path', s ? s.merkle_path.join(' ') || '(alone in its batch)' : ''],
    ['on chain', chain ? `${chain.state}: ${chain.detail}` : ''],
    ...(shown.checks || []).map((c) => [`check: ${c.name}`, `${c.performed ? '✓' : '–'} ${c.detail}`]),
  ].filter(([, v]) => v);
  const list = document.createElement('dl');
  for (const [k, v] of rows) {
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    dd.textContent = v;
    list.append(dt, dd);
  }
  return list;
}

/** A link that saves the receipt's JSON, byte for byte as the node sent it. */
export function downloadLink(text, id) {
  const link = document.createElement('a');
  link.href = URL.createObjectURL(new Blob([text], { type: 'application/json' }));
  link.download = `receipt-${id}.json`;
  link.textContent = 'Download the receipt (JSON)';
  return link;
}
