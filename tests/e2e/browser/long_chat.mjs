// Drives the demo page through one long conversation: `node tests/e2e/browser/long_chat.mjs` with BASE_URL, TURNS and
// MESSAGE_CHARS set. Prints, for every turn, how it ended and the size of the body the page posted.
import { run } from './lib.mjs';

const BASE_URL = process.env.BASE_URL;
const TURNS = Number(process.env.TURNS ?? 14);
const MESSAGE_CHARS = Number(process.env.MESSAGE_CHARS ?? 7000);

run(async ({ page }) => {
  const sizes = [];
  page.on('request', (request) => {
    if (request.url().endsWith('/api/chat/stream')) sizes.push(Buffer.byteLength(request.postData() ?? '', 'utf8'));
  });
  await page.goto(`${BASE_URL}/`);
  await page.locator('#dashboard-panel[data-state="ready"]').waitFor();
  const outcomes = [];
  for (let turn = 1; turn <= TURNS; turn += 1) {
    // a long Korean message (well under MESSAGE_MAX_CHARS), as a pasted review or e-mail would be
    const message = `${turn}번째 질문: ` + '가'.repeat(MESSAGE_CHARS);
    await page.fill('#chat-input', message);
    await page.press('#chat-input', 'Enter');
    const answer = page.locator('.message--assistant').nth(turn - 1);
    await answer.and(page.locator('[data-status="done"], [data-status="error"]')).waitFor({ timeout: 30_000 });
    const status = await answer.getAttribute('data-status');
    const error = status === 'error' ? await answer.locator('.bubble__error-text').textContent() : null;
    outcomes.push({ turn, status, error, bodyBytes: sizes.at(-1) });
    if (status === 'error') break;
  }
  return { outcomes };
});
