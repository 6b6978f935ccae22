// veritas explorer: the network's record as this node keeps it. Recent claims (live), the
// figures of the last hour with a chart, a page per receipt (its badge decided in this browser
// by the WebAssembly verifier and the chain), the models and the registered nodes.

import { judge, confirmOnChain, badgeOf, receiptDetails, downloadLink, fetchReceipt, verifier } from '/assets/receipt.js';

const $ = (id) => document.getElementById(id);
const LIVE_MS = 2000;
let timer = null;

function status(message) {
  const box = $('status');
  box.hidden = !message;
  box.textContent = message || '';
}

async function get(path) {
  let response;
  try {
    response = await fetch(path);
  } catch {
    throw new Error('The node cannot be reached. Is `veritas up` still running?');
  }
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    throw new Error(body.error?.message || `${path}: HTTP ${response.status}`);
  }
  return response.json();
}

/** An element with text or children. */
function el(tag, { dataset, ...props } = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  Object.assign(node.dataset, dataset || {});
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

const short = (hex) => (hex ? `${hex.slice(0, 10)}…${hex.slice(-6)}` : '');
const tokens = (wei) => {
  const value = BigInt(wei || 0);
  const whole = value / 10n ** 18n;
  const cents = (value % 10n ** 18n) / 10n ** 16n;
  return `${whole}.${String(cents).padStart(2, '0')}`;
};
const duration = (s) => {
  if (s === null || s === undefined) return '';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? `${h} h ${m} min` : m ? `${m} min ${s % 60} s` : `${s} s`;
};

function table(headers, rows) {
  const head = el('tr', {}, ...headers.map((h) => el('th', { scope: 'col', textContent: h })));
  const body = rows.map((cells) => el('tr', {}, ...cells.map((c) => el('td', {}, c))));
  return el('div', { className: 'scroll' }, el('table', {}, el('thead', {}, head), el('tbody', {}, ...body)));
}

// ---- Activity: figures, a chart and the latest claims, refreshed while shown.
function card(label, value, note) {
  return el('div', { className: 'card' }, el('div', { className: 'value', textContent: value }),
    el('div', { className: 'label', textContent: label }), note ? el('div', { className: 'note', textContent: note }) : null);
}

/** Claims per minute as bars (invalid ones in red), drawn as SVG from the node's figures. */
function chart(minutes) {
  const ns = 'http://www.w3.org/2000/svg';
  const width = 600;
  const height = 120;
  const max = Math.max(1, ...minutes.map((m) => m.calls));
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', `0 0 ${width} ${height + 16}`);
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', `Claims per minute over the last ${minutes.length} minutes; at most ${max} in a minute`);
  const bar = width / minutes.length;
  minutes.forEach((m, i) => {
    for (const [count, cls, offset] of [[m.calls, 'bar', 0], [m.invalid, 'bar-bad', 0]]) {
      if (!count) continue;
      const h = (count / max) * height;
      const rect = document.createElementNS(ns, 'rect');
      rect.setAttribute('x', String(i * bar + 1));
      rect.setAttribute('y', String(height - h - offset));
      rect.setAttribute('width', String(Math.max(1, bar - 2)));
      rect.setAttribute('height', String(h));
      rect.setAttribute('class', cls);
      const title = document.createElementNS(ns, 'title');
      title.textContent = `${new Date(m.start_ms).toLocaleTimeString()}: ${m.calls} claims, ${m.valid} valid, ${m.invalid} invalid`;
      rect.append(title);
      svg.append(rect);
    }
  });
  const axis = document.createElementNS(ns, 'text');
  axis.setAttribute('x', '0');
  axis.setAttribute('y', String(height + 14));
  axis.setAttribute('class', 'axis');
  axis.textContent = `${minutes.length} min ago — now · peak ${max}/min`;
  svg.append(axis);
  return svg;
}

function stateOf(claim) {
  if (claim.transaction) return 'settled';
  return { valid: 'verified', invalid: 'invalid', pending: 'pending', not_here: 'recorded' }[claim.judged] || claim.judged;
}

async function activity(view) {
  const [figures, recent] = await Promise.all([get('/v1/explorer/figures?minutes=60'), get('/v1/explorer/claims?limit=25')]);
  const lastFive = figures.minutes.slice(-5).reduce((n, m) => n + m.calls, 0) / 5;
  const share = figures.share_verified === null ? '—' : `${(figures.share_verified * 100).toFixed(1)} %`;
  const latency = figures.median_latency_ms === null ? '—' : `${figures.median_latency_ms.toFixed(1)} ms`;
  const chainNote = figures.chain_since === null ? 'chain unreachable' : `since block ${figures.chain_since}`;
  const cards = el('div', { className: 'cards' },
    card('calls per minute (last 5 min)', lastFive.toFixed(1)),
    card('calls in the last hour', String(figures.calls), `${figures.pending} waiting for validators`),
    card('share verified', share, `${figures.invalid} judged invalid`),
    card('median latency', latency, 'request to signed claim'),
    card('disputes on chain', figures.disputes === null ? '—' : String(figures.disputes), chainNote),
    card('slashes', figures.slashes === null ? '—' : String(figures.slashes), chainNote),
    card('claims logged', String(figures.all_time), 'by this node, all time'));
  const rows = recent.claims.map((c) => [
    el('time', { dateTime: new Date(c.logged_ms).toISOString(), textContent: new Date(c.logged_ms).toLocaleTimeString() }),
    el('a', { href: `#/receipt/${c.id}`, textContent: short(c.id), className: 'mono' }),
    c.model || short(c.model_id),
    c.mode,
    el('span', { className: 'mono', textContent: short(c.worker) }),
    `${c.verdicts[0]} valid / ${c.verdicts[1]} invalid`,
    el('span', { className: 'state', textContent: stateOf(c), dataset: { state: stateOf(c) } }),
    `${(c.latency_us / 1000).toFixed(1)} ms`,
  ]);
  view.replaceChildren(
    el('h1', { textContent: 'Network activity' }),
    cards,
    el('figure', {}, chart(figures.minutes), el('figcaption', { textContent: 'Claims per minute, last hour (red: judged invalid)' })),
    el('h2', { textContent: 'Latest inferences' }),
    recent.claims.length
      ? table(['time', 'receipt', 'model', 'mode', 'worker', 'verdicts', 'state', 'latency'], rows)
      : el('p', { textContent: 'No inferences yet. Send a chat message or run `veritas infer`.' }),
  );
  timer = setTimeout(() => route(), LIVE_MS);
}

// ---- One receipt.
async function receiptPage(view, id) {
  view.replaceChildren(el('p', { textContent: 'Checking the receipt in this browser…' }));
  const receipt = await fetchReceipt(id);
  const shown = await judge(receipt);
  const chain = shown.badge === 'settled' ? await confirmOnChain(shown) : null;
  const { badge, label, title, tee } = badgeOf(shown, chain);
  view.replaceChildren(
    el('h1', { textContent: 'Receipt' }, ' ', el('span', { className: 'badge', textContent: label, title, dataset: { badge, chain: chain?.state || '', tee: tee || '' } })),
    el('p', { className: 'mono', textContent: id }),
    receiptDetails(receipt, shown, chain),
    downloadLink(receipt, id),
  );
  if (badge === 'pending' || badge === 'verified') timer = setTimeout(() => route(), LIVE_MS);
}

// ---- Models and nodes.
async function models(view) {
  const list = (await get('/v1/models')).data || [];
  const rows = list.map((m) => [m.veritas.name, String(m.veritas.version), m.veritas.format, el('span', { className: 'mono', textContent: m.veritas.model_id })]);
  view.replaceChildren(el('h1', { textContent: 'Models' }),
    rows.length ? table(['name', 'version', 'format', 'model id (content hash)'], rows) : el('p', { textContent: 'No models in the hub.' }));
}

async function nodes(view) {
  const list = (await get('/v1/explorer/nodes')).nodes;
  const rows = list.map((n) => [
    n.role,
    el('span', { className: 'mono', textContent: n.signer }),
    tokens(n.stake),
    n.down ? el('span', { className: 'down', textContent: `down: ${n.down}` }) : `up ${duration(n.uptime_s)}`,
    String(n.activity.claims),
    `${n.activity.verdicts_valid} valid / ${n.activity.verdicts_invalid} invalid`,
    n.slashes[0] ? `${n.slashes[0]} (${tokens(n.slashes[1])} VER)` : '0',
    n.endpoint,
  ]);
  view.replaceChildren(el('h1', { textContent: 'Nodes and validators' }),
    rows.length ? table(['role', 'signer', 'stake (VER)', 'uptime', 'claims served', 'verdicts counted', 'slashes', 'endpoint'], rows)
      : el('p', { textContent: 'The registry lists no nodes.' }));
}

async function route() {
  clearTimeout(timer);
  const view = $('view');
  const hash = location.hash.replace(/^#/, '') || '/';
  try {
    const receipt = hash.match(/^\/receipt\/(0x[0-9a-fA-F]{64})$/);
    if (receipt) await receiptPage(view, receipt[1]);
    else if (hash === '/models') await models(view);
    else if (hash === '/nodes') await nodes(view);
    else await activity(view);
    status('');
  } catch (err) {
    status(err.message);
    timer = setTimeout(() => route(), LIVE_MS * 2);
  }
}

$('lookup').onsubmit = (e) => {
  e.preventDefault();
  const id = $('lookup-id').value.trim();
  if (/^0x[0-9a-fA-F]{64}$/.test(id)) location.hash = `#/receipt/${id}`;
  else status('A receipt id is 0x and 64 hex digits.');
};
window.addEventListener('hashchange', route);
verifier.catch(() => status('The verifier (WebAssembly) failed to load: receipts cannot be checked.'));
route();
