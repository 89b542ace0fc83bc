// The README's React example (web/examples/ChatBox.jsx, useChat from @ai-sdk/react) rendered by react-dom in
// headless Chromium against the local API. pytest copies the examples to SNIPPET_DIR with the test API's origin
// in place of http://127.0.0.1:8000; esbuild bundles ChatBox.jsx unmodified with React into one module, which a
// page at the API's own origin (served by playwright's router, so no CORS is involved) renders. The script types
// a message and clicks Send like a user, and reads what ChatBox shows: its status comes from its own UI
// ("Thinking…" while submitted, Stop while submitted or streaming, Send when ready, role=alert on error).
// Run by tests/e2e/test_chatbox.py: `node tests/e2e/browser/chatbox.mjs` with BASE_URL, SNIPPET_DIR, EXPECTED_TEXT.
import { build } from 'esbuild';
import { check, run, screenshot } from './lib.mjs';

const BASE_URL = process.env.BASE_URL;
const SNIPPET_DIR = process.env.SNIPPET_DIR;
const EXPECTED_TEXT = process.env.EXPECTED_TEXT;
const PAGE = `${BASE_URL}/__chatbox-test/`;

/** ChatBox.jsx and everything it imports (chat.js, @ai-sdk/react, ai, react, react-dom) as one ES module. */
async function bundle() {
  const entry = `
    import { createRoot } from 'react-dom/client';
    import { ChatBox } from './ChatBox.jsx';
    createRoot(document.getElementById('root')).render(<ChatBox />);
  `;
  const result = await build({
    stdin: { contents: entry, resolveDir: SNIPPET_DIR, sourcefile: 'chatbox-entry.jsx', loader: 'jsx' },
    bundle: true, format: 'esm', platform: 'browser', target: 'chrome120', jsx: 'automatic',
    define: { 'process.env.NODE_ENV': '"development"' }, write: false, logLevel: 'silent',
  });
  return result.outputFiles[0].text;
}

const html = (script) => `<!doctype html><meta charset="utf-8"><title>ChatBox</title>
<div id="root"></div>
<script type="module">${script.replaceAll('</script', '<\\/script')}</script>`;

/** In the page: every distinct state ChatBox's UI shows, and the assistant text at each change, from now on. */
function watch() {
  const root = document.getElementById('root');
  const stateOf = () => {
    if (root.querySelector('[role="alert"]')) return 'error';
    const thinking = [...root.querySelectorAll('p[aria-live]')].some((p) => p.textContent === 'Thinking…');
    const buttons = [...root.querySelectorAll('form button')].map((b) => b.textContent);
    if (thinking && buttons.includes('Stop')) return 'submitted';
    if (buttons.includes('Stop')) return 'streaming';
    if (buttons.includes('Send')) return 'ready';
    return `unknown: ${root.innerHTML}`;
  };
  const answer = () => {
    const last = [...root.querySelectorAll('p')].filter((p) => p.querySelector('b')?.textContent === 'assistant:').at(-1);
    return last ? last.textContent.slice('assistant: '.length) : null;
  };
  window.__states = [stateOf()];
  window.__texts = [];
  new MutationObserver(() => {
    const state = stateOf();
    if (state !== window.__states.at(-1)) window.__states.push(state);
    const text = answer();
    if (text !== null && text !== window.__texts.at(-1)) window.__texts.push(text);
  }).observe(root, { subtree: true, childList: true, characterData: true, attributes: true });
}

await run(async ({ page, problems }) => {
  const script = await bundle();
  await page.route(PAGE, (route) => route.fulfill({ contentType: 'text/html; charset=utf-8', body: html(script) }));
  await page.goto(PAGE);
  const input = page.getByLabel('Message');
  await input.waitFor();
  check(await page.getByRole('button', { name: 'Send' }).isDisabled(), 'Send is disabled while the input is empty');

  await input.fill('Say hello.');
  await page.evaluate(watch);
  await page.getByRole('button', { name: 'Send' }).click();
  // ready again: the Send button is back (disabled: ChatBox cleared the input) and the answer is complete
  await page.getByRole('button', { name: 'Send' }).waitFor();
  await page.locator('small').waitFor();
  await screenshot(page, 'chatbox-answered');

  const seen = await page.evaluate(() => ({
    states: window.__states,
    texts: window.__texts,
    paragraphs: [...document.querySelectorAll('#root p')].map((p) => p.textContent),
    usage: document.querySelector('#root small')?.textContent ?? null,
    input: document.querySelector('#root input').value,
  }));
  check(problems.length === 0, `no page errors: ${problems.join('; ')}`);
  check(JSON.stringify(seen.states) === JSON.stringify(['ready', 'submitted', 'streaming', 'ready']),
    `status ready → submitted → streaming → ready, saw ${JSON.stringify(seen.states)}`);
  check(seen.paragraphs.length === 2 && seen.paragraphs[0] === 'user: Say hello.', JSON.stringify(seen.paragraphs));
  check(seen.paragraphs[1] === `assistant: ${EXPECTED_TEXT}`, `the exact answer, saw ${JSON.stringify(seen.paragraphs[1])}`);
  check(seen.texts.length > 2 && seen.texts.every((t, i) => i === 0 || t.startsWith(seen.texts[i - 1])),
    `the answer grew in place: ${JSON.stringify(seen.texts)}`);
  check(seen.texts.at(-1) === EXPECTED_TEXT, 'the last text seen is the answer');
  check(seen.input === '', 'the input was cleared');
  return { states: seen.states, answer: seen.texts.at(-1), updates: seen.texts.length, usage: seen.usage };
});
