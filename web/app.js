// veritas web chat: conversations kept in this browser, answers streamed from the node's
// OpenAI-compatible API, and each answer's badge decided here by the verifier compiled to
// WebAssembly (web/pkg), from the receipt alone — never from the server's word.

import { judge, confirmOnChain, badgeOf, receiptDetails, downloadLink, fetchReceipt, verifier, teeSetup, check_enclave } from '/assets/receipt.js';

const $ = (id) => document.getElementById(id);
const STORE = 'veritas.conversations';
const POLL_MS = 1000;
const POLL_LIMIT = 120;

const state = { conversations: load(), current: null, abort: null, following: new Set(), modelIds: {} };

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
  if (message.sealedTo) {
    // What this page checked before it sealed anything: the enclave's attestation.
    const sealed = document.createElement('div');
    sealed.className = 'sealed';
    sealed.dataset.insecure = String(message.sealedTo.insecure);
    sealed.textContent = `confidential — sealed to ${message.sealedTo.label}${message.sealedTo.insecure ? ' (UNTRUSTED / SIMULATED: it hides nothing)' : ''}, attestation checked here`;
    sealed.title = message.sealedTo.assumptions.join('\n');
    item.append(sealed);
  }
  if (message.role === 'assistant') {
    const badge = document.createElement('button');
    badge.type = 'button';
    badge.className = 'badge';
    item.append(badge);
    badge.onclick = () => openDetails(message);
    if (message.receiptId && !state.abort) follow(message, item);
    else showBadge(badge, message);
  }
  return item;
}

// ---- Verification, in this browser.
/** Decides the badge from the receipt (and, once settled, from the chain); returns it. */
async function showBadge(badge, message) {
  if (!message.receiptText) {
    badge.dataset.badge = message.stopped ? 'invalid' : 'pending';
    badge.textContent = message.stopped ? 'stopped — no receipt' : message.receiptId ? 'fetching the receipt…' : 'answering…';
    return 'pending';
  }
  const shown = await judge(message.receiptText);
  const chain = shown.badge === 'settled' ? await confirmOnChain(shown) : null;
  const { badge: name, label, title, tee } = badgeOf(shown, chain, message.nonce, message.content);
  badge.dataset.badge = name;
  badge.dataset.tee = tee || '';
  badge.dataset.chain = chain?.state || '';
  badge.textContent = label;
  badge.title = title;
  return chain?.state === 'unavailable' ? 'settled-unconfirmed' : name;
}

/**
 * Fetches the receipt again until it is settled (or invalid), re-deciding the badge each time;
 * also after a reload, for answers still on their way.
 */
async function follow(message, item) {
  const id = message.receiptId;
  if (!id || state.following.has(id)) return;
  state.following.add(id);
  try {
    for (let i = 0; i < POLL_LIMIT; i++) {
      if (i > 0 || !message.receiptText) {
        try {
          message.receiptText = await fetchReceipt(id);
          save();
        } catch (err) {
          status(err.message);
        }
      }
      const shown = await showBadge(item.querySelector('.badge'), message);
      if (shown === 'settled' || shown === 'invalid') break;
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  } finally {
    state.following.delete(id);
  }
}

async function openDetails(message) {
  const body = $('details-body');
  body.replaceChildren();
  if (!message.receiptText) {
    body.textContent = 'This answer has no receipt.';
    $('details').showModal();
    return;
  }
  const shown = await judge(message.receiptText);
  const chain = shown.badge === 'settled' ? await confirmOnChain(shown) : null;
  const explore = document.createElement('a');
  explore.href = `/explorer#/receipt/${message.receiptId}`;
  explore.textContent = 'Open in the explorer';
  body.append(receiptDetails(message.receiptText, shown, chain), downloadLink(message.receiptText, message.receiptId), ' · ', explore);
  $('details').showModal();
}

// ---- Confidential requests: sealed in this browser to a key whose attestation was checked here.
function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** An enclave whose key offer holds under the network's published policy, checked here. */
async function attestedEnclave() {
  await verifier;
  const setup = await teeSetup;
  const nonce = hex(crypto.getRandomValues(new Uint8Array(32)));
  const offer = await (await api('/v1/confidential/key', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ nonce }),
  })).text();
  try {
    return check_enclave(offer, nonce, JSON.stringify(setup.policy || {}), Date.now() / 1000);
  } catch (err) {
    throw new Error(`The enclave's key offer does not hold, so nothing was sent: ${err.message || err}`);
  }
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
  state.abort = new AbortController();
  $('send').hidden = true;
  $('stop').hidden = false;
  const body = {
    model,
    messages: chat.messages.slice(0, -1).map(({ role, content }) => ({ role, content })),
    stream: true,
    veritas_mode: $('mode').value,
  };
  if (body.veritas_mode === 'tee') {
    // A fresh nonce per answer: its attestation must bind it, so it cannot be an old one.
    const bytes = crypto.getRandomValues(new Uint8Array(32));
    answer.nonce = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
    body.veritas_nonce = answer.nonce;
  }
  let enclave = null;
  try {
    if (body.veritas_mode === 'confidential') {
      enclave = await attestedEnclave();
      answer.sealedTo = JSON.parse(enclave.describe());
      const seed = hex(crypto.getRandomValues(new Uint8Array(32)));
      const sealed = JSON.parse(enclave.seal(state.modelIds[model], JSON.stringify({ messages: body.messages }), seed, Date.now() / 1000));
      answer.nonce = sealed.nonce;
      answer.sentMessages = JSON.stringify(body.messages);
      Object.assign(body, { messages: [], veritas_mode: 'tee', veritas_sealed: { worker: sealed.worker, request: sealed.request } });
      item.replaceWith(messageItem(answer));
    }
  } catch (err) {
    status(err.message || String(err));
    answer.stopped = true;
    state.abort = null;
    $('send').hidden = false;
    $('stop').hidden = true;
    save();
    renderMessages();
    return;
  }
  const shownItem = $('messages').lastElementChild;
  const shownText = shownItem.querySelector('.text');
  let sealedLast = null;
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
        if (chunk.error) throw new Error(chunk.error.message);
        const delta = chunk.choices?.[0]?.delta?.content;
        if (delta) {
          answer.content += enclave ? enclave.open_piece(delta) : delta;
          shownText.innerHTML = markdown(answer.content);
        }
        if (enclave && chunk.veritas?.sealed) sealedLast = chunk.veritas.sealed;
        // The receipt itself is fetched as text once the answer is done (see judge).
        if (chunk.veritas?.receipt_id) answer.receiptId = chunk.veritas.receipt_id;
      }
    }
    if (enclave) {
      // The last chunk opens to what the enclave ran and answered: it must be what this page
      // sealed and showed, and match the commitments of the receipt (its JSON text as stored:
      // JavaScript's numbers would change the parameters' hash).
      if (!sealedLast || !answer.receiptId) throw new Error('The confidential answer ended without its sealed last chunk.');
      answer.receiptText = await fetchReceipt(answer.receiptId);
      const opened = JSON.parse(enclave.finish(answer.receiptText, JSON.stringify(sealedLast)));
      if (opened.text !== answer.content || opened.messages !== answer.sentMessages) {
        throw new Error('The enclave opened another conversation or answer than the one sent and shown.');
      }
    }
  } catch (err) {
    if (err.name === 'AbortError') answer.stopped = true;
    else {
      status(err.message || String(err));
      if (enclave) answer.stopped = true;
    }
  } finally {
    state.abort = null;
    $('send').hidden = false;
    $('stop').hidden = true;
    save();
    await showBadge(shownItem.querySelector('.badge'), answer);
  }
  if (!answer.stopped) await follow(answer, shownItem);
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
  const tee = await teeSetup;
  if (tee.enclave) {
    const label = tee.simulated ? 'enclave (tee) — SIMULATED, UNTRUSTED' : `enclave attestation (tee, ${tee.enclave})`;
    $('mode').append(new Option(label, 'tee'));
    const sealed = tee.simulated ? 'confidential — SIMULATED' : `confidential (${tee.enclave})`;
    $('mode').append(new Option(sealed, 'confidential'));
  }
  try {
    const models = (await (await api('/v1/models')).json()).data || [];
    const chat = models.filter((m) => m.veritas?.format === 'gguf');
    for (const m of chat) {
      $('model').append(new Option(m.id, m.id));
      state.modelIds[m.id] = m.veritas.model_id;
    }
    if (!chat.length) status('No chat model on this node: push a GGUF model (veritas model push FILE.gguf).');
  } catch (err) {
    status(err.message);
  }
  await verifier.catch(() => status('The verifier (WebAssembly) failed to load: answers cannot be checked.'));
  $('prompt').focus();
}

start();
