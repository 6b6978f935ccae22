// The web chat and the explorer in a real browser: playwright-core drives the system's
// Chromium, headless, against a running `veritas up`. Usage:
//   node web/tests/browser.mjs API_URL [SCREENSHOT_DIR]
// Prints one line per step; exits non-zero, naming the step, on the first failure.

import { chromium } from 'playwright-core';

const [url, shots] = process.argv.slice(2);
if (!url) {
  console.error('usage: node web/tests/browser.mjs API_URL [SCREENSHOT_DIR]');
  process.exit(2);
}
const LONG = 180_000;

function check(ok, what) {
  if (!ok) throw new Error(what);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  // This machine's network is closed: no background connections, no component updates.
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
const errors = [];
let step = 'start';
let failureNotes = async () => '';
try {
  const context = await browser.newContext({ viewport: { width: 1200, height: 800 }, colorScheme: 'light' });
  const page = await context.newPage();
  page.on('pageerror', (err) => errors.push(String(err)));
  const done = (what) => console.log(`ok: ${what}`);

  // Every badge the page shows, and every length of the answer while it streams, in order
  // (again after each reload).
  await context.addInitScript(() => document.addEventListener('DOMContentLoaded', () => {
    window.badges = [];
    window.lengths = [];
    const messages = document.getElementById('messages');
    if (!messages) return;
    new MutationObserver(() => {
      const badge = document.querySelector('#messages li.assistant:last-child .badge');
      const state = badge?.dataset.badge && `${badge.dataset.badge}${badge.dataset.chain ? `:${badge.dataset.chain}` : ''}`;
      if (state && window.badges[window.badges.length - 1] !== state) window.badges.push(state);
      const text = document.querySelector('#messages li.assistant:last-child .text');
      const length = text ? text.textContent.length : 0;
      if (!document.getElementById('stop').hidden && window.lengths[window.lengths.length - 1] !== length) window.lengths.push(length);
    }).observe(messages, { subtree: true, attributes: true, childList: true, characterData: true });
  }));

  step = 'the chat loads with the default model and the verifier';
  await page.goto(url);
  await page.waitForFunction(() => document.querySelectorAll('#model option').length > 0, null, { timeout: 30_000 });
  // Every badge the page shows, in order, as the page sets them.
  // Every badge the page shows, and every length of the answer while it streams, in order.
  failureNotes = async () => `badges seen: ${await page.evaluate(() => window.badges.join(' → ')).catch(() => '?')}; ` +
    `badge says: ${await page.getAttribute('#messages li.assistant:last-child .badge', 'title', { timeout: 1000 }).catch(() => '?')}; ` +
    `status: ${await page.textContent('#status', { timeout: 1000 }).catch(() => '?')}`;
  done(step);

  step = 'a message sent with Enter streams its answer';
  await page.fill('#prompt', 'Name three colours, one per line.');
  await page.press('#prompt', 'Enter');
  await page.waitForSelector('#stop:not([hidden])', { timeout: 10_000 });
  await page.waitForSelector('#send:not([hidden])', { timeout: LONG });
  const answer = await page.textContent('#messages li.assistant:last-child .text');
  check(answer.trim().length > 0, 'the answer is not empty');
  const lengths = (await page.evaluate(() => window.lengths)).filter((n) => n > 0 && n < answer.length);
  check(lengths.length >= 1, `the answer appeared in parts while the stop button showed (${answer.length} characters at the end)`);
  done(`${step} (${answer.length} characters)`);

  step = 'the badge turns verified, then settled, confirmed on chain by the browser';
  await page.waitForSelector('#messages li.assistant:last-child .badge[data-badge="settled"][data-chain="confirmed"]', { timeout: LONG });
  const seen = await page.evaluate(() => window.badges);
  // Verified may pass between two polls when a batch settles at once; the step below shows it.
  const rank = { pending: 0, verified: 1, 'settled:pending': 2, 'settled:confirmed': 3 };
  check(seen[0] === 'pending' && seen.at(-1) === 'settled:confirmed', `from pending to settled and confirmed: ${seen}`);
  check(seen.every((s, i) => s in rank && (i === 0 || rank[s] > rank[seen[i - 1]])), `only forward, never invalid: ${seen}`);
  done(`${step} (${seen.join(' → ')})`);

  step = 'the receipt as it was before settlement shows verified, and the page follows it to settled';
  await page.evaluate(() => {
    const conversations = JSON.parse(localStorage.getItem('veritas.conversations'));
    const message = conversations[0].messages[1];
    // The settlement is not signed: without it, this is the receipt the node served once the
    // quorum had judged it. Edited as text, so that nothing else in it changes.
    message.receiptText = message.receiptText.replace(/"settlement":\{[^{}]*\}/, '"settlement":null');
    localStorage.setItem('veritas.conversations', JSON.stringify(conversations));
  });
  await page.reload();
  await page.waitForSelector('#messages li.assistant:last-child .badge[data-badge="settled"][data-chain="confirmed"]', { timeout: 30_000 });
  const again = await page.evaluate(() => window.badges);
  check(again[0] === 'verified' && again.at(-1) === 'settled:confirmed', `verified, then settled: ${again}`);
  done(`${step} (${again.join(' → ')})`);
  if (shots) await page.screenshot({ path: `${shots}/chat.png` });

  step = 'the details panel shows the receipt';
  await page.click('#messages li.assistant:last-child .badge');
  await page.waitForSelector('#details[open]');
  const details = await page.textContent('#details');
  for (const words of ['model id', 'worker', 'batch root', 'transaction', 'Merkle path', 'isSettled holds', 'Download the receipt']) {
    check(details.includes(words), `the details mention "${words}"`);
  }
  const verdicts = (details.match(/valid — validator 0x[0-9a-fA-F]{40}, (reexec|signed) check/g) || []).length;
  check(verdicts === 3, `three validators' verdicts are listed with their checks (found ${verdicts})`);
  const receiptId = await page.evaluate(() => JSON.parse(localStorage.getItem('veritas.conversations'))[0].messages[1].receiptId);
  const downloaded = await Promise.all([page.waitForEvent('download'), page.click('#details a[download]')]);
  const saved = await downloaded[0].path().then((path) => import('node:fs').then((fs) => fs.readFileSync(path, 'utf8')));
  const stored = await page.evaluate(() => JSON.parse(localStorage.getItem('veritas.conversations'))[0].messages[1].receiptText);
  check(saved === stored && JSON.parse(saved).claim, 'the downloaded receipt is the receipt JSON, byte for byte');
  if (shots) await page.screenshot({ path: `${shots}/chat-details.png` });
  await page.keyboard.press('Escape');
  done(`${step} (receipt ${receiptId})`);

  step = 'an answer shown with other text than its receipt signs is marked invalid';
  const shownText = await page.evaluate(() => {
    const conversations = JSON.parse(localStorage.getItem('veritas.conversations'));
    const message = conversations[0].messages[1];
    const before = message.content;
    // What a relay that rewrote the stream would leave on the page: a valid receipt, other text.
    message.content = `${before} (and one more thing)`;
    localStorage.setItem('veritas.conversations', JSON.stringify(conversations));
    return before;
  });
  await page.reload();
  const rewritten = await page.waitForSelector('#messages li.assistant:last-child .badge[data-badge="invalid"]', { timeout: 30_000 });
  check(/not the text the receipt signs/.test(await rewritten.textContent()), `the badge says the text is not signed: ${await rewritten.textContent()}`);
  await page.evaluate((before) => {
    const conversations = JSON.parse(localStorage.getItem('veritas.conversations'));
    conversations[0].messages[1].content = before;
    localStorage.setItem('veritas.conversations', JSON.stringify(conversations));
  }, shownText);
  await page.reload();
  await page.waitForSelector('#messages li.assistant:last-child .badge[data-badge="settled"]', { timeout: 30_000 });
  done(step);

  step = 'one changed byte of the stored receipt makes the badge invalid after a reload';
  await page.evaluate(() => {
    const conversations = JSON.parse(localStorage.getItem('veritas.conversations'));
    const message = conversations[0].messages[1];
    // One hex digit of the claimed output hash, in the stored text.
    const at = message.receiptText.indexOf('"output_hash":"0x') + 17;
    const digit = message.receiptText[at] === '0' ? '1' : '0';
    message.receiptText = message.receiptText.slice(0, at) + digit + message.receiptText.slice(at + 1);
    localStorage.setItem('veritas.conversations', JSON.stringify(conversations));
  });
  await page.reload();
  const tampered = await page.waitForSelector('#messages li.assistant:last-child .badge[data-badge="invalid"]', { timeout: 30_000 });
  const why = await tampered.getAttribute('title');
  check(why && why.length > 0, 'the invalid badge says why');
  done(`${step} (${why})`);

  step = 'the explorer lists the inference, live, and opens its receipt';
  await page.goto(`${url}/explorer`);
  await page.waitForSelector(`a[href="#/receipt/${receiptId}"]`, { timeout: 30_000 });
  const cards = await page.textContent('.cards');
  check(/share verified/.test(cards) && /median latency/.test(cards), 'the figures show share verified and median latency');
  check((await page.$$('figure svg rect')).length > 0, 'the chart draws the last minutes');
  if (shots) await page.screenshot({ path: `${shots}/explorer.png`, fullPage: true });
  await page.click(`a[href="#/receipt/${receiptId}"]`);
  await page.waitForSelector('h1 .badge[data-badge="settled"][data-chain="confirmed"]', { timeout: 30_000 });
  check((await page.textContent('#view')).includes(receiptId), 'the receipt page names the receipt');
  done(step);

  step = 'the explorer lists the nodes and validators with stake and work';
  await page.goto(`${url}/explorer#/nodes`);
  await page.waitForSelector('table tbody tr');
  const rows = await page.$$eval('table tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((td) => td.textContent)));
  check(rows.filter((r) => r[0] === 'inference').length === 2 && rows.filter((r) => r[0] === 'validator').length === 3,
    `2 inference nodes and 3 validators: ${JSON.stringify(rows)}`);
  check(rows.every((r) => r[3].startsWith('up ')), `every node is up: ${JSON.stringify(rows)}`);
  check(rows.filter((r) => r[0] === 'validator').every((r) => /^[1-9]\d* valid/.test(r[5])), 'each validator gave counted verdicts');
  if (shots) await page.screenshot({ path: `${shots}/explorer-nodes.png`, fullPage: true });
  done(step);

  step = 'an answer in tee mode from the simulated enclave is labelled UNTRUSTED / SIMULATED';
  await page.goto(url);
  await page.waitForSelector('#mode option[value="tee"]', { state: 'attached', timeout: 30_000 });
  check(/SIMULATED/.test(await page.textContent('#mode option[value="tee"]')), 'the mode menu says the enclave is simulated');
  await page.selectOption('#mode', 'tee');
  await page.click('#new-chat');
  await page.fill('#prompt', 'Say yes.');
  await page.press('#prompt', 'Enter');
  const teeBadge = await page.waitForSelector('#messages li.assistant:last-child .badge[data-tee="simulated"]', { timeout: LONG });
  check((await teeBadge.textContent()).includes('UNTRUSTED / SIMULATED'), `the badge says UNTRUSTED / SIMULATED: ${await teeBadge.textContent()}`);
  await teeBadge.click();
  await page.waitForSelector('#details[open]');
  const teeDetails = await page.textContent('#details-body');
  check(/enclave\s*UNTRUSTED \/ SIMULATED/.test(teeDetails), 'the details name the enclave UNTRUSTED / SIMULATED');
  check(teeDetails.includes('root of trust'), 'the details say what the attestation rests on');
  if (shots) await page.screenshot({ path: `${shots}/tee-simulated.png`, fullPage: true });
  await page.keyboard.press('Escape');
  done(step);

  step = 'a confidential chat is sealed in the browser, opened here, and labelled SIMULATED';
  await page.goto(url);
  await page.waitForSelector('#mode option[value="confidential"]', { state: 'attached', timeout: 30_000 });
  check(/SIMULATED/.test(await page.textContent('#mode option[value="confidential"]')), 'the mode menu says the enclave is simulated');
  await page.selectOption('#mode', 'confidential');
  await page.click('#new-chat');
  const secret = 'okapi-vermilion-4417';
  const sent = [];
  page.on('request', (request) => {
    if (request.url().includes('/v1/chat/completions')) sent.push(request.postData() || '');
  });
  await page.fill('#prompt', `Repeat this word: ${secret}`);
  await page.press('#prompt', 'Enter');
  const sealedBadge = await page.waitForSelector('#messages li.assistant:last-child .badge[data-tee="simulated"]', { timeout: LONG });
  const sealedLabel = await sealedBadge.textContent();
  check(sealedLabel.includes('confidential') && sealedLabel.includes('UNTRUSTED / SIMULATED'), `the badge says confidential and SIMULATED: ${sealedLabel}`);
  const opened = await page.textContent('#messages li.assistant:last-child .text');
  check(opened.trim().length > 0, 'the answer was opened in this browser');
  const note = await page.textContent('#messages li.assistant:last-child .sealed');
  check(note.includes('UNTRUSTED / SIMULATED') && note.includes('attestation checked here'), `the answer says what it was sealed to: ${note}`);
  check(sent.length === 1 && sent[0].includes('veritas_sealed') && !sent[0].includes(secret), 'the request left the browser sealed');
  await sealedBadge.click();
  await page.waitForSelector('#details[open]');
  const sealedDetails = await page.textContent('#details-body');
  check(sealedDetails.includes('sealed to the enclave'), 'the details say the receipt holds commitments only');
  check(!sealedDetails.includes(secret), 'the receipt holds no plaintext');
  if (shots) await page.screenshot({ path: `${shots}/confidential.png`, fullPage: true });
  await page.keyboard.press('Escape');
  done(step);

  step = 'readable at phone width, dark mode follows the system';
  const phone = await browser.newContext({ viewport: { width: 390, height: 800 }, colorScheme: 'dark' });
  const small = await phone.newPage();
  await small.goto(url);
  await small.waitForSelector('#prompt');
  const overflow = await small.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 0, `no sideways scrolling at 390 px (${overflow} px too wide)`);
  const background = await small.evaluate(() => getComputedStyle(document.body).backgroundColor);
  check(background === 'rgb(14, 17, 22)', `a dark background in dark mode (${background})`);
  await phone.close();
  done(step);

  step = 'a node that cannot be reached is said so';
  await page.route('**/v1/models', (route) => route.abort());
  await page.goto(url);
  await page.waitForSelector('#status:not([hidden])');
  const message = await page.textContent('#status');
  check(/cannot be reached/.test(message), `the status says the node cannot be reached: ${message}`);
  done(step);

  check(errors.length === 0, `no script errors: ${errors.join('; ')}`);
} catch (err) {
  console.error(`FAILED: ${step}: ${err.message}\n${await failureNotes()}${errors.length ? `\npage errors: ${errors.join('; ')}` : ''}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
