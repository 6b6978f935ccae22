// veritas web chat: conversations kept in this browser, answers streamed from the node's
// OpenAI-compatible API, and each answer's badge decided here by the verifier compiled to
// WebAssembly (web/pkg), from the receipt alone — never from the server's word.

import init, { describe } from '/assets/pkg/veritas_verifier_wasm.js';

const $ = (id) => document.getElementById(id);
const STORE = 'veritas.conversations';
const POLL_MS = 1000;
const POLL_LIMIT = 120;

const state = { conversations: load(), current: null, abort: null, verifier: init() };

function load() {
  try {
    const list = JSON.parse(localStorage.getItem(STORE) || '[]');
    return Array.isArray(list) ? list : [];
  } catch {
    return [];
  }
}

function save() {
  localStorage.setItem(STORE, JSON.stringify(state.conversations));
}

function status(message) {
  const box = $('status');
  box.hidden = !message;
  box.textContent = message || '';
}

async function api(path, options) {
  let response;
  try {
    response = await fetch(path, options);
  } catch {
    throw new Error('The node cannot be reached. Is `veritas up` still running?');
  }
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    throw new Error(body.error?.message || `${path}: HTTP ${response.status}`);
  }
  return response;
}

// ---- Markdown: the text is escaped first, so nothing the model writes becomes markup.
function escape(text) {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

function inline(text) {
  return text
    .replace(/`([^`]+)`/g, '<code>$1</code>')
    .replace(/\*\*([^*]+)\*\*/g, '<strong>$1</strong>')
    .replace(/(^|\W)\*([^*\s][^*]*)\*(?=\W|$)/g, '$1<em>$2</em>')
    .replace(/\[([^\]]+)\]\((https?:\/\/[^\s)]+)\)/g, '<a href="$2" rel="noopener noreferrer" target="_blank">$1</a>');
}

export function markdown(source) {
  const out = [];
  const blocks = escape(source).split(/^```/m);
  blocks.forEach((block, i) => {
    if (i % 2 === 1) {
      const newline = block.indexOf('\n');
      out.push(`<pre><code>${newline < 0 ? block : block.slice(newline + 1)}</code></pre>`);
      return;
    }
    for (const para of block.split(/\n{2,}/)) {
      const lines = para.split('\n').filter((l) => l.trim());
      if (!lines.length) continue;
      if (lines.every((l) => /^\s*([-*]|\d+\.)\s/.test(l))) {
        const tag = /^\s*\d+\./.test(lines[0]) ? 'ol' : 'ul';
        const items = lines.map((l) => `<li>${inline(l.replace(/^\s*([-*]|\d+\.)\s/, ''))}</li>`);
        out.push(`<${tag}>${items.join('')}</${tag}>`);
      } else {
        out.push(`<p>${lines.map(inline).join('<br>')}</p>`);
      }
    }
  });
  return out.join('');
}

// ---- Conversations.
function conversation() {
  if (!state.current) {
    state.current = { id: crypto.randomUUID(), title: 'New chat', messages: [] };
    state.conversations.unshift(state.current);
  }
  return state.current;
}

function renderConversations() {
  const nav = $('conversations');
  nav.replaceChildren();
  for (const c of state.conversations) {
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = c.title;
    button.setAttribute('aria-current', String(c === state.current));
    button.onclick = () => {
      state.current = c;
      renderConversations();
      renderMessages();
    };
    nav.append(button);
  }
}

function renderMessages() {
  const list = $('messages');
  list.replaceChildren();
  for (const message of state.current?.messages || []) list.append(messageItem(message));
  list.scrollTop = list.scrollHeight;
}

function messageItem(message) {
  const item = document.createElement('li');
  item.className = message.role;
  const role = document.createElement('div');
  role.className = 'role';
  role.textContent = message.role === 'user' ? 'You' : message.model || 'Assistant';
  const text = document.createElement('div');
  text.className = 'text';
  text.innerHTML = markdown(message.content);
  item.append(role, text);
  if (message.role === 'assistant') {
    const badge = document.createElement('button');
    badge.type = 'button';
    badge.className = 'badge';
    item.append(badge);
    showBadge(badge, message);
    badge.onclick = () => openDetails(message);
  }
  return item;
}

// ---- Verification, in this browser.
async function judge(receipt) {
  await state.verifier;
  return JSON.parse(describe(JSON.stringify(receipt)));
}

const LABELS = {
  pending: 'pending — waiting for validators',
  verified: 'verified — a quorum of validators',
  settled: 'settled on chain',
  invalid: 'INVALID',
};

async function showBadge(badge, message) {
  if (!message.receipt) {
    badge.dataset.badge = message.stopped ? 'invalid' : 'pending';
    badge.textContent = message.stopped ? 'stopped — no receipt' : 'answering…';
    return;
  }
  const shown = await judge(message.receipt);
  badge.dataset.badge = shown.badge;
  badge.textContent = LABELS[shown.badge] || shown.badge;
  badge.title = shown.error || shown.guarantee || '';
}

/** Fetches the receipt again until it is settled (or invalid), re-deciding the badge each time. */
async function follow(message, item) {
  const id = message.receipt?.claim && message.receiptId;
  for (let i = 0; id && i < POLL_LIMIT; i++) {
    const shown = await judge(message.receipt);
    if (shown.badge === 'settled' || shown.badge === 'invalid') break;
    await new Promise((r) => setTimeout(r, POLL_MS));
    try {
      message.receipt = await (await api(`/v1/receipts/${id}`)).json();
      save();
    } catch (err) {
      status(err.message);
    }
    await showBadge(item.querySelector('.badge'), message);
  }
}

async function openDetails(message) {
  const body = $('details-body');
  body.replaceChildren();
  if (!message.receipt) {
    body.textContent = 'This answer has no receipt.';
    $('details').showModal();
    return;
  }
  const shown = await judge(message.receipt);
  const r = message.receipt;
  const rows = [
    ['badge', LABELS[shown.badge] || shown.badge],
    ['why', shown.error || ''],
    ['model', `${r.body?.model_name ?? '?'} (version ${r.body?.model_version ?? '?'})`],
    ['model id', r.claim.model_id],
    ['mode', `${r.claim.mode}: ${shown.guarantee || ''}`],
    ['worker', r.claim.worker],
    ...r.verdicts.map((v) => [`verdict`, `${v.valid ? 'valid' : 'INVALID'} — validator ${v.validator}`]),
    ['batch root', r.settlement?.batch_root || 'not settled yet'],
    ['transaction', r.settlement ? `${r.settlement.transaction} (block ${r.settlement.block}, chain ${r.settlement.chain_id})` : ''],
    ['Merkle path', r.settlement ? r.settlement.merkle_path.join(' ') || '(alone in its batch)' : ''],
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
  const download = document.createElement('a');
  download.href = URL.createObjectURL(new Blob([JSON.stringify(r, null, 2)], { type: 'application/json' }));
  download.download = `receipt-${message.receiptId}.json`;
  download.textContent = 'Download the receipt (JSON)';
  body.append(list, download);
  $('details').showModal();
}

// ---- Sending and streaming.
async function send(text) {
  const chat = conversation();
  const model = $('model').value;
  if (!model) return status('No chat model on this node: push a GGUF model first.');
  status('');
  if (chat.title === 'New chat') chat.title = text.slice(0, 40);
  chat.messages.push({ role: 'user', content: text });
  const answer = { role: 'assistant', content: '', model };
  chat.messages.push(answer);
  save();
  renderConversations();
  renderMessages();
  const item = $('messages').lastElementChild;
  const textBox = item.querySelector('.text');
  state.abort = new AbortController();
  $('send').hidden = true;
  $('stop').hidden = false;
  const body = {
    model,
    messages: chat.messages.slice(0, -1).map(({ role, content }) => ({ role, content })),
    stream: true,
    veritas_mode: $('mode').value,
  };
  try {
    const response = await api('/v1/chat/completions', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: state.abort.signal,
    });
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = event.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
        if (!data || data === '[DONE]') continue;
        const chunk = JSON.parse(data);
        const delta = chunk.choices?.[0]?.delta?.content;
        if (delta) {
          answer.content += delta;
          textBox.innerHTML = markdown(answer.content);
        }
        if (chunk.veritas?.receipt) {
          answer.receipt = chunk.veritas.receipt;
          answer.receiptId = chunk.veritas.receipt_id;
        }
      }
    }
  } catch (err) {
    if (err.name === 'AbortError') answer.stopped = true;
    else status(err.message);
  } finally {
    state.abort = null;
    $('send').hidden = false;
    $('stop').hidden = true;
    save();
    await showBadge(item.querySelector('.badge'), answer);
  }
  await follow(answer, item);
}

async function start() {
  $('composer').onsubmit = (e) => {
    e.preventDefault();
    const text = $('prompt').value.trim();
    if (!text || state.abort) return;
    $('prompt').value = '';
    send(text);
  };
  $('prompt').onkeydown = (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      $('composer').requestSubmit();
    }
  };
  $('stop').onclick = () => state.abort?.abort();
  $('new-chat').onclick = () => {
    state.current = null;
    renderConversations();
    renderMessages();
    $('prompt').focus();
  };
  state.current = state.conversations[0] || null;
  renderConversations();
  renderMessages();
  try {
    const models = (await (await api('/v1/models')).json()).data || [];
    const chat = models.filter((m) => m.veritas?.format === 'gguf');
    for (const m of chat) $('model').append(new Option(m.id, m.id));
    if (!chat.length) status('No chat model on this node: push a GGUF model (veritas model push FILE.gguf).');
  } catch (err) {
    status(err.message);
  }
  await state.verifier.catch(() => status('The verifier (WebAssembly) failed to load: answers cannot be checked.'));
  $('prompt').focus();
}

start();
