// The README's plain-fetch and web/client examples (web/examples/fetch-stream.js, client.js) run against the
// local API: pytest copies them to SNIPPET_DIR with the test API's origin, and checks the upstream's side.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';

const load = (name) => import(pathToFileURL(`${process.env.SNIPPET_DIR}/${name}`).href);
const EXPECTED_TEXT = process.env.EXPECTED_TEXT;

test('fetch example: streams the exact answer, growing', async () => {
  const { streamAnswer } = await load('fetch-stream.js');
  const seen = [];
  const text = await streamAnswer('Say hello.', { onText: (t) => seen.push(t) });
  assert.equal(text, EXPECTED_TEXT);
  assert.ok(seen.length > 5 && seen.every((t, i) => i === 0 || t.startsWith(seen[i - 1])));
});

test('fetch example: rejects with the server message when the stream breaks', async () => {
  const { streamAnswer } = await load('fetch-stream.js');
  await assert.rejects(streamAnswer('Say hello.'), { message: process.env.EXPECTED_ERROR });
});

test('fetch example: stops on abort', async () => {
  const { streamAnswer } = await load('fetch-stream.js');
  const controller = new AbortController();
  const answer = streamAnswer('Tell me a long story.', {
    signal: controller.signal,
    onText: (t) => { if (t.length >= 20) controller.abort(); },
  });
  await assert.rejects(answer, { name: 'AbortError' });
});

test('client example: streams with status, then the sentiment and the budget', async () => {
  const { ask, sentimentOf, todaysBudget } = await load('client.js');
  const statuses = new Set();
  const result = await ask('Say hello.', (_, status) => statuses.add(status));
  assert.equal(result.text, EXPECTED_TEXT);
  assert.equal(result.finishReason, 'stop');
  assert.ok(result.usage.outputTokens > 0);
  assert.deepEqual([...statuses], ['streaming']);
  assert.equal((await sentimentOf('정말 맛있었어요. 또 주문할게요!')).sentiment, 'positive');
  const budget = await todaysBudget();
  assert.ok(budget.used_usd > 0 && budget.limit_usd > budget.used_usd);
});
