// The AI SDK's own chat client (ai@5: DefaultChatTransport, and the Chat class that @ai-sdk/react's useChat
// renders) against the local API, using the README's example file web/examples/chat.js as it is (pytest copies
// it to SNIPPET_DIR with the API's test origin in place of http://127.0.0.1:8000).
// Run by tests/e2e/test_usechat.py: `node --test --test-name-pattern=NAME tests/e2e/usechat.test.mjs`.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';

const { createChat } = await import(pathToFileURL(`${process.env.SNIPPET_DIR}/chat.js`).href);
const EXPECTED_TEXT = process.env.EXPECTED_TEXT;
const EXPECTED_ERROR = process.env.EXPECTED_ERROR;

/** A chat plus everything observable about it, subscribed the way useChat subscribes. */
function observed() {
  const usage = [];
  const chat = createChat((data) => usage.push(data));
  const statuses = [];
  chat['~registerStatusCallback'](() => statuses.push(chat.status));
  return { chat, statuses, usage };
}

/** What pytest checks besides the assertions here (the TAP reporter would escape it on stdout). */
const report = (data) => writeFileSync(process.env.RESULT_FILE, JSON.stringify(data));

const textOf = (message) => message.parts.filter((p) => p.type === 'text').map((p) => p.text).join('');

test('useChat assembles the answer exactly: submitted, streaming, ready', async () => {
  const { chat, statuses, usage } = observed();
  await chat.sendMessage({ text: 'Say hello.' });
  assert.deepEqual(statuses, ['submitted', 'streaming', 'ready']);
  assert.equal(chat.error, undefined);
  assert.equal(chat.messages.length, 2);
  const [user, assistant] = chat.messages;
  assert.equal(user.role, 'user');
  assert.equal(textOf(user), 'Say hello.');
  assert.equal(assistant.role, 'assistant');
  assert.equal(textOf(assistant), EXPECTED_TEXT);
  assert.ok(assistant.parts.every((p) => p.type !== 'data-usage'), 'usage is transient: not stored in the message');
  assert.equal(usage.length, 1);
  assert.ok(usage[0].outputTokens > 0 && usage[0].costUsd > 0, JSON.stringify(usage[0]));
  // a second turn carries the history
  await chat.sendMessage({ text: 'And again.' });
  assert.equal(chat.messages.length, 4);
  assert.equal(textOf(chat.messages[3]), EXPECTED_TEXT);
});

test('useChat stop() ends the stream and keeps the partial answer', async () => {
  const { chat, statuses } = observed();
  const sent = chat.sendMessage({ text: 'Tell me a long story.' });
  const deadline = Date.now() + 10_000;
  while (textOf(chat.lastMessage ?? { parts: [] }).length < 20 || chat.lastMessage.role !== 'assistant') {
    assert.ok(Date.now() < deadline, 'text did not arrive');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.equal(chat.status, 'streaming');
  await chat.stop();
  await sent;
  assert.equal(chat.status, 'ready');
  assert.equal(chat.error, undefined);
  const partial = textOf(chat.lastMessage);
  assert.ok(partial.length >= 20 && EXPECTED_TEXT.startsWith(partial) && partial.length < EXPECTED_TEXT.length);
  assert.deepEqual(statuses, ['submitted', 'streaming', 'ready']);
  report({ partial });
});

test('useChat reports an upstream failure mid-stream as status error with the server message', async () => {
  const { chat, statuses } = observed();
  await chat.sendMessage({ text: 'Say hello.' });
  assert.equal(chat.status, 'error');
  assert.deepEqual(statuses, ['submitted', 'streaming', 'error']);
  assert.equal(chat.error.message, EXPECTED_ERROR);
  report({ error: chat.error.message, partial: textOf(chat.lastMessage) });
});

test('useChat reports an HTTP error as status error with the server body', async () => {
  const { chat, statuses } = observed();
  await chat.sendMessage({ text: 'Say hello.' });
  assert.equal(chat.status, 'error');
  assert.deepEqual(statuses, ['submitted', 'error']);
  // DefaultChatTransport makes the response body the error message: airelay's is short JSON, safe to show
  const body = JSON.parse(chat.error.message);
  assert.equal(body.error.message, EXPECTED_ERROR);
  report({ error: body.error });
});
