// Drives the demo page (web/demo) in headless Chromium: `node demo.mjs SCENARIO` with BASE_URL set.
// pytest (tests/e2e/test_demo_*.py) scripts the upstream before and checks what it saw after.
import { check, run, screenshot } from './lib.mjs';

const BASE_URL = process.env.BASE_URL;
const EXPECTED_TEXT = process.env.EXPECTED_TEXT ?? null;
const scenario = process.argv[2];

const answer = (page) => page.locator('.message--assistant').last();
const answerText = (page) => answer(page).locator('.bubble__text').textContent();

async function openDemo(page) {
  await page.goto(`${BASE_URL}/`);
  // the dashboard's first load is done: later refreshes come from what the scenario does
  await page.locator('#dashboard-panel[data-state="ready"]').waitFor();
}

async function send(page, message) {
  await page.fill('#chat-input', message);
  await page.press('#chat-input', 'Enter');
}

/** Records every change of the last answer (text length, its status) and of the panel status, in the page. */
async function watchAnswer(page) {
  await page.evaluate(() => {
    window.__seen = [];
    const record = () => {
      const message = [...document.querySelectorAll('.message--assistant')].at(-1);
      window.__seen.push({
        t: performance.now(),
        panel: document.getElementById('chat-status').dataset.status,
        status: message?.dataset.status ?? null,
        length: message?.querySelector('.bubble__text')?.textContent.length ?? 0,
      });
    };
    new MutationObserver(record).observe(document.getElementById('chat-panel'),
      { subtree: true, childList: true, characterData: true, attributes: true, attributeFilter: ['data-status'] });
  });
}

const scenarios = {
  async 'chat-steps'({ page }) {
    await openDemo(page);
    await send(page, 'Weather in Seoul?');
    await answer(page).and(page.locator('[data-status="done"]')).waitFor();
    const tool = answer(page).locator('.step--tool').first();
    const reasoning = answer(page).locator('.step--reasoning').first();
    const seen = {
      tool: await tool.locator('summary').textContent(),
      toolOpen: await tool.evaluate((d) => d.open),
      toolState: await tool.getAttribute('data-state'),
      reasoningOpen: await reasoning.evaluate((d) => d.open),
      sources: await answer(page).locator('.bubble__sources li').allTextContents(),
      text: await answerText(page),
    };
    await tool.locator('summary').click();
    await reasoning.locator('summary').click();
    seen.input = await tool.locator('pre').first().textContent();
    seen.output = await tool.locator('.tool__output').textContent();
    seen.reasoning = await reasoning.locator('pre').textContent();
    await screenshot(page.locator('#chat-panel'), 'chat-steps');
    check(seen.text === EXPECTED_TEXT, `answer text: ${seen.text}`);
    return seen;
  },

  /** An answer in two steps (text and a tool call, then text), then a follow-up that carries it as history. */
  async 'chat-two-steps'({ page }) {
    await openDemo(page);
    await send(page, 'Weather in Seoul?');
    await answer(page).and(page.locator('[data-status="done"]')).waitFor();
    const parts = await answer(page).locator('.bubble__parts > *').evaluateAll((nodes) =>
      nodes.map((node) => (node.matches('.step') ? node.querySelector('summary').textContent : node.textContent)));
    const shown = await answer(page).locator('.bubble').innerText();
    await screenshot(page.locator('#chat-panel'), 'chat-two-steps');
    await send(page, 'And tomorrow?');
    await answer(page).and(page.locator('[data-status="done"]')).waitFor();
    return { parts, shown };
  },

  async 'chat-image'({ page }) {
    // IMAGE_BASE64: a photo to attach; a second message attaches a text file the server refuses
    await openDemo(page);
    const photo = { name: 'coffee.jpg', mimeType: 'image/jpeg', buffer: Buffer.from(process.env.IMAGE_BASE64, 'base64') };
    await page.setInputFiles('#chat-file', photo);
    await page.locator('#chat-attachment:not([hidden])').waitFor();
    const chip = await page.locator('#chat-attachment-name').textContent();
    await send(page, 'What is in this photo?');
    await answer(page).and(page.locator('[data-status="done"]')).waitFor();
    const image = page.locator('.message--user').last().locator('.bubble__image');
    const seen = {
      chip,
      chipHiddenAfterSend: await page.locator('#chat-attachment').isHidden(),
      imageVisible: await image.isVisible(),
      imageAlt: await image.getAttribute('alt'),
      imageSrcPrefix: (await image.getAttribute('src')).slice(0, 23),
      imageWidth: await image.evaluate((img) => img.naturalWidth),
      text: await answerText(page),
    };
    await screenshot(page.locator('#chat-panel'), 'chat-image');
    const notes = { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not an image') };
    await page.setInputFiles('#chat-file', notes);
    await page.locator('#chat-attachment:not([hidden])').waitFor();
    await send(page, 'And this?');
    await answer(page).and(page.locator('[data-status="error"]')).waitFor();
    seen.refused = await answer(page).locator('.bubble__error-text').textContent();
    check(seen.text === EXPECTED_TEXT, `answer text: ${seen.text}`);
    return seen;
  },

  async 'chat-incremental'({ page }) {
    await openDemo(page);
    await watchAnswer(page);
    await send(page, 'Say hello.');
    await page.locator('#chat-status[data-status="submitted"]').waitFor();
    await page.locator('.message--assistant .typing').waitFor(); // the typing dots before the first token
    await screenshot(page.locator('#chat-panel'), 'chat-loading');
    await answer(page).locator('.bubble__text:not(:empty)').waitFor();
    const early = await answerText(page);
    const earlyStatus = await answer(page).getAttribute('data-status');
    await screenshot(page.locator('#chat-panel'), 'chat-streaming');
    await answer(page).and(page.locator('[data-status="done"]')).waitFor();
    const final = await answerText(page);
    const seen = await page.evaluate(() => window.__seen);
    const lengths = [...new Set(seen.filter((s) => s.status === 'streaming').map((s) => s.length))];
    const usage = await answer(page).locator('.message__usage').textContent();
    await screenshot(page.locator('#chat-panel'), 'chat-done');
    check(earlyStatus === 'streaming', `the first characters were visible while streaming (status ${earlyStatus})`);
    check(early.length > 0 && early.length < final.length, `early text ${early.length} chars < final ${final.length}`);
    check(lengths.length >= 5, `the text grew in steps: ${lengths.join(',')}`);
    check(seen.some((s) => s.panel === 'submitted'), 'a loading state was shown before the first token');
    check(EXPECTED_TEXT === null || final === EXPECTED_TEXT, `final text ${JSON.stringify(final)}`);
    check(/\d+ in · \d+ out · \$/.test(usage), `tokens and cost shown: ${usage}`);
    return { early, final, steps: lengths.length, usage };
  },

  async 'chat-stop'({ page }) {
    await openDemo(page);
    const counted = async () => {
      const total = await page.locator('#week-total').textContent();
      return { failed: Number(/(\d+) failed/.exec(total)?.[1]), cancelled: Number(/(\d+) cancelled/.exec(total)?.[1]) };
    };
    const before = await counted();
    await send(page, 'Tell me a long story.');
    await page.waitForFunction(() => document.querySelector('.message--assistant .bubble__text')?.textContent.length >= 20);
    await page.click('#chat-stop');
    await answer(page).and(page.locator('[data-status="stopped"]')).waitFor();
    const stopped = await answerText(page);
    const notice = await answer(page).locator('.message__notice').textContent();
    await screenshot(page.locator('#chat-panel'), 'chat-stopped');
    check(notice === 'Stopped', `notice: ${notice}`);
    check(await page.locator('#chat-status').getAttribute('data-status') === 'ready', 'status back to ready');
    check(await page.isEnabled('#chat-send') && !(await page.isEnabled('#chat-stop')), 'Send enabled, Stop disabled');
    // the stopped call is in the ledger as cancelled, not as failed (the server settles it when it sees the close);
    // polled for up to 10 s
    let after = await counted();
    for (let attempt = 0; attempt < 40 && after.cancelled === before.cancelled; attempt += 1) {
      await page.click('#dashboard-refresh');
      await page.waitForTimeout(250);
      after = await counted();
    }
    check(after.cancelled === before.cancelled + 1 && after.failed === before.failed,
      `cancelled ${before.cancelled} -> ${after.cancelled}, failed ${before.failed} -> ${after.failed}`);
    // the server has settled the call: nothing more can arrive, and nothing did after Stop
    check(await answerText(page) === stopped, 'the text does not grow after Stop');
    return { text: stopped };
  },

  async 'chat-stop-then-follow-up'({ page }) {
    await openDemo(page);
    await send(page, 'Tell me a long story.');
    await page.waitForFunction(() => document.querySelector('.message--assistant .bubble__text')?.textContent.length >= 12);
    await page.click('#chat-stop');
    await answer(page).and(page.locator('[data-status="stopped"]')).waitFor();
    const stopped = await answerText(page);
    await send(page, 'Make it shorter.');
    await answer(page).and(page.locator('[data-status="done"]')).waitFor();
    return { stopped };
  },

  async 'chat-error-retry'({ page }) {
    await openDemo(page);
    await send(page, 'Say hello.');
    const error = answer(page).locator('.bubble__error');
    // 1. the upstream fails before the stream starts: an HTTP error with the server's message
    await answer(page).and(page.locator('[data-status="error"]')).waitFor();
    const first = await error.locator('.bubble__error-text').textContent();
    check(await error.locator('.retry').isVisible(), 'a Retry button is shown');
    check(await page.locator('#chat-status').getAttribute('data-status') === 'error', 'panel status error');
    await screenshot(page.locator('#chat-panel'), 'chat-error');
    // 2. Retry; this time the upstream connection breaks mid-answer: the partial text stays, with the error
    // (the click handler resets the bubble to `submitted` before it returns, so the next `error` is the new one)
    await error.locator('.retry').click();
    await answer(page).and(page.locator('[data-status="error"]')).waitFor();
    const second = await error.locator('.bubble__error-text').textContent();
    const partial = await answerText(page);
    await screenshot(page.locator('#chat-panel'), 'chat-error-midstream');
    // 3. Retry again: the whole answer
    await error.locator('.retry').click();
    await answer(page).and(page.locator('[data-status="done"]')).waitFor();
    const final = await answerText(page);
    check(await error.isHidden(), 'the error is gone after a successful retry');
    check(await page.locator('.message--assistant').count() === 1, 'retry reuses the same answer bubble');
    check(EXPECTED_TEXT === null || final === EXPECTED_TEXT, `final text ${JSON.stringify(final)}`);
    return { first, second, partial, final };
  },

  async 'dashboard'({ page }) {
    await openDemo(page);
    const calls = async () => Number(await page.locator('#week-total').getAttribute('data-calls'));
    const before = { calls: await calls(), used: await page.locator('#budget-used').textContent() };
    await screenshot(page.locator('#dashboard-panel'), 'dashboard-before');
    await page.fill('#chat-max-tokens', '5');
    await send(page, 'Count to ten.');
    await answer(page).and(page.locator('[data-status="done"]')).waitFor();
    const notice = await answer(page).locator('.message__notice').textContent();
    await page.waitForFunction((n) => Number(document.getElementById('week-total').dataset.calls) > n, before.calls);
    const after = { calls: await calls(), used: await page.locator('#budget-used').textContent() };
    const models = await page.locator('#models-rows tr').evaluateAll((rows) => rows.map((r) => r.dataset.model));
    const bars = await page.locator('#week-chart .chart__bar').count();
    await page.selectOption('#chart-metric', 'calls');
    const todayLabel = await page.locator('#week-chart .chart__bar--today .chart__value').textContent();
    await screenshot(page.locator('#chat-panel'), 'chat-token-limit');
    await screenshot(page.locator('#dashboard-panel'), 'dashboard');
    check(notice === 'The answer hit the max_tokens limit.', `token-limit notice: ${notice}`);
    check(after.calls === before.calls + 1, `calls ${before.calls} -> ${after.calls}`);
    check(after.used !== before.used, `today's spend changed: ${before.used} -> ${after.used}`);
    check(models.includes('openai/gpt-4o-mini'), `spend by model lists the chat model: ${models}`);
    check(bars === 7, `7 bars, got ${bars}`);
    check(Number(todayLabel) >= 1, `today's bar counts the call: ${todayLabel}`);
    return { before, after, models, notice };
  },

  async 'dashboard-scope'({ context, page }) {
    // the page sends no key of its own: this stack wants one, so the browser adds it to every request
    await context.setExtraHTTPHeaders({ 'x-api-key': process.env.API_KEY });
    await openDemo(page);
    const text = (id) => page.locator(`#${id}`).textContent();
    const seen = {
      scope: await page.locator('#dashboard-panel').getAttribute('data-scope'),
      caller: await text('budget-caller'),
      limit: await text('budget-limit'),
      calls: Number(await page.locator('#week-total').getAttribute('data-calls')),
      models: await page.locator('#models-rows tr').evaluateAll((rows) => rows.map((r) => r.dataset.model)),
      kinds: await page.locator('#kinds-rows tr').evaluateAll((rows) => rows.map((r) => r.dataset.kind)),
      top: await page.locator('#top-rows tr').evaluateAll((rows) => rows.map((r) => r.dataset.identity)),
      topShown: await page.locator('#top-block').isVisible(),
    };
    await screenshot(page.locator('#dashboard-panel'), `dashboard-scope-${seen.scope}`);
    return seen;
  },

  async 'tools'({ page }) {
    await openDemo(page);
    // sentiment: Korean positive, then English negative
    await page.fill('#sentiment-text', '배송도 빠르고 음식이 정말 맛있었어요. 또 주문할게요!');
    await page.click('#sentiment-form button[type="submit"]');
    await page.locator('#sentiment-result:not([hidden])').waitFor();
    const korean = await page.locator('#sentiment-label').textContent();
    await page.fill('#sentiment-text', 'The battery died after a day and support never answered. Terrible.');
    await page.press('#sentiment-text', 'Tab');
    await page.keyboard.press('Enter'); // keyboard only: Tab to the Analyse button, Enter
    await page.locator('#sentiment-label[data-kind="negative"]').waitFor();
    const english = await page.locator('#sentiment-label').textContent();
    const keywords = await page.locator('#sentiment-keywords li').allTextContents();
    await screenshot(page.locator('#sentiment-panel'), 'sentiment');
    // FAQ: a shipping question matches the FAQ
    await page.fill('#faq-question', '배송비가 얼마예요?');
    await page.press('#faq-question', 'Enter');
    await page.locator('#faq-result:not([hidden])').waitFor();
    const source = await page.locator('#faq-source').getAttribute('data-kind');
    const confidence = await page.locator('#faq-confidence').textContent();
    const faqAnswer = await page.locator('#faq-answer').textContent();
    await page.click('#faq-matches-box summary');
    await screenshot(page.locator('#faq-panel'), 'faq');
    check(korean === 'Positive' && english === 'Negative', `sentiment ${korean} / ${english}`);
    check(source === 'faq' && /^\d+% confidence$/.test(confidence), `faq ${source} ${confidence}`);
    check(faqAnswer.includes('3,000원'), `faq answer: ${faqAnswer}`);
    return { korean, english, keywords, source, confidence, answer: faqAnswer };
  },

  async 'image'({ page }) {
    const file = process.env.IMAGE_FILE;
    await openDemo(page);
    await page.setInputFiles('#image-file', file);
    await page.locator('#image-preview:not([hidden])').waitFor();
    await page.waitForFunction(() => document.getElementById('image-preview-img').naturalWidth > 0);
    await page.click('#image-form button[type="submit"]');
    await page.locator('#image-result:not([hidden])').waitFor();
    const labels = await page.locator('#image-labels .score-item__text').allTextContents();
    const scores = await page.locator('#image-labels .score-item__value').allTextContents();
    await screenshot(page.locator('#image-panel'), 'image');
    // a URL the server refuses to fetch (loopback): the error with a Retry button
    await page.fill('#image-url', 'http://127.0.0.1/coffee.jpg');
    check(await page.inputValue('#image-file') === '', 'typing a URL clears the chosen file');
    await page.click('#image-form button[type="submit"]');
    const error = page.locator('#image-panel [data-role="error"]');
    await error.waitFor();
    const message = await error.locator('[data-role="error-text"]').textContent();
    check(await error.locator('[data-role="retry"]').isVisible(), 'a Retry button is shown');
    await screenshot(page.locator('#image-panel'), 'image-url-refused');
    check(labels.length === 5 && labels[0].includes('espresso'), `labels: ${labels}`);
    check(message.includes('image_url_refused'), `error: ${message}`);
    return { labels, scores, message };
  },

  /** A photo over the upload limit is scaled down before it is sent; a file that is no image is refused, unsent. */
  async 'image-large'({ page }) {
    // Chromium does not report a body made of a File: the page's fetch keeps each multipart body it sends instead
    await page.addInitScript(() => {
      const send = window.fetch;
      window.__uploads = [];
      window.fetch = (input, init) => {
        if (init?.body instanceof FormData) window.__uploads.push(init.body);
        return send(input, init);
      };
    });
    await openDemo(page);
    await page.setInputFiles('#image-file', process.env.IMAGE_FILE);
    await page.click('#image-form button[type="submit"]');
    await page.locator('#image-result:not([hidden])').waitFor({ timeout: 60_000 });
    const labels = await page.locator('#image-labels .score-item__text').allTextContents();
    const caption = await page.locator('#image-preview-caption').textContent();
    await screenshot(page.locator('#image-panel'), 'image-large');
    // a file the browser cannot read as an image
    await page.setInputFiles('#image-file', { name: 'notes.png', mimeType: 'image/png', buffer: Buffer.from('not an image') });
    await page.click('#image-form button[type="submit"]');
    const error = page.locator('#image-panel [data-role="error"]');
    await error.waitFor();
    const refused = await error.locator('[data-role="error-text"]').textContent();
    await screenshot(page.locator('#image-panel'), 'image-unreadable');
    const uploads = await page.evaluate(() => Promise.all(window.__uploads.map(async (form) => {
      const image = form.get('image');
      const bytes = new Uint8Array(await image.arrayBuffer());
      return {
        bodyBytes: (await new Response(form).arrayBuffer()).byteLength,
        name: image.name,
        type: image.type,
        image: btoa(Array.from(bytes, (byte) => String.fromCharCode(byte)).join('')),
      };
    })));
    return { labels, caption, refused, uploads };
  },

  async 'real-model'({ page }) {
    await openDemo(page);
    await watchAnswer(page);
    await page.fill('#chat-max-tokens', '48');
    await page.fill('#chat-temperature', '0');
    await send(page, 'Name three colours.');
    await answer(page).locator('.bubble__text:not(:empty)').waitFor({ timeout: 60_000 });
    await answer(page).and(page.locator('[data-status="done"]')).waitFor({ timeout: 60_000 });
    const text = await answerText(page);
    const usage = await answer(page).locator('.message__usage').textContent();
    const seen = await page.evaluate(() => window.__seen);
    const steps = new Set(seen.filter((s) => s.status === 'streaming').map((s) => s.length)).size;
    await screenshot(page.locator('#chat-panel'), 'chat-real-model');
    check(text.trim().length > 0, 'the model answered');
    check(steps >= 3, `the answer appeared in steps (${steps})`);
    check(/\d+ in · \d+ out/.test(usage) && usage.includes('estimated'), `usage: ${usage}`);
    // the whole page with every panel used once (their example inputs are prefilled)
    await page.click('#sentiment-form button[type="submit"]');
    await page.click('#faq-form button[type="submit"]');
    await page.setInputFiles('#image-file', process.env.IMAGE_FILE);
    await page.click('#image-form button[type="submit"]');
    for (const id of ['sentiment-result', 'faq-result', 'image-result']) await page.locator(`#${id}:not([hidden])`).waitFor();
    await page.waitForFunction(() => document.getElementById('models-rows').children.length >= 4);
    await page.locator('#dashboard-panel[data-state="ready"]').waitFor();
    await screenshot(page, 'page');
    return { text, usage, steps };
  },
};

if (!scenarios[scenario]) {
  console.error(`unknown scenario ${scenario}; one of: ${Object.keys(scenarios).join(', ')}`);
  process.exit(2);
}
await run(scenarios[scenario]);
