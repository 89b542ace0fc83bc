// One harness for every `ai` major: the Chat class that @ai-sdk/react's useChat renders, with DefaultChatTransport,
// taken from the project named by SDK (tests/e2e/aisdk/ai5|ai6|ai7/sdk.mjs), against the local API at API.
// Run by tests/e2e/test_aisdk.py: `node --test --test-name-pattern=NAME tests/e2e/aisdk/usechat.test.mjs`.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';

const { Chat, DefaultChatTransport } = await import(pathToFileURL(process.env.SDK).href);
const API = process.env.API;
const EXPECTED_TEXT = process.env.EXPECTED_TEXT;
const EXPECTED_ERROR = process.env.EXPECTED_ERROR;

/** A chat plus everything observable about it, subscribed the way useChat subscribes. */
function observed(options = {}) {
  const usage = [];
  const chat = new Chat({
    transport: new DefaultChatTransport({
      api: `${API}/api/chat/stream`,
      body: { persona: 'assistant', max_tokens: 256, ...options.body },
    }),
    onData: (part) => {
      if (part.type === 'data-usage') usage.push(part.data);
    },
  });
  const statuses = [];
  chat['~registerStatusCallback'](() => statuses.push(chat.status));
  return { chat, statuses, usage };
}

/** What pytest checks besides the assertions here (the TAP reporter would escape it on stdout). */
const report = (data) => writeFileSync(process.env.RESULT_FILE, JSON.stringify(data));

const textOf = (message) =>
  message.parts
    .filter((p) => p.type === 'text')
    .map((p) => p.text)
    .join('');

test('text: submitted, streaming, ready, the exact answer, usage transient, history carried', async () => {
  const { chat, statuses, usage } = observed();
  await chat.sendMessage({ text: 'Say hello.' });
  assert.deepEqual(statuses, ['submitted', 'streaming', 'ready']);
  assert.equal(chat.error, undefined);
  const [user, assistant] = chat.messages;
  assert.equal(textOf(user), 'Say hello.');
  assert.equal(assistant.role, 'assistant');
  assert.equal(textOf(assistant), EXPECTED_TEXT);
  assert.ok(assistant.parts.every((p) => p.type !== 'data-usage'), 'usage is transient: not stored in the message');
  assert.equal(usage.length, 1);
  assert.ok(usage[0].outputTokens > 0 && usage[0].costUsd > 0, JSON.stringify(usage[0]));
  await chat.sendMessage({ text: 'And again.' });
  assert.equal(chat.messages.length, 4);
  assert.equal(textOf(chat.messages[3]), EXPECTED_TEXT);
});

test('stop: stop() mid-answer keeps the partial text, status ready', async () => {
  const { chat, statuses } = observed();
  const sent = chat.sendMessage({ text: 'Tell me a long story.' });
  const deadline = Date.now() + 10_000;
  while (chat.lastMessage?.role !== 'assistant' || textOf(chat.lastMessage).length < 20) {
    assert.ok(Date.now() < deadline, 'text did not arrive');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await chat.stop();
  await sent;
  assert.equal(chat.status, 'ready');
  assert.equal(chat.error, undefined);
  const partial = textOf(chat.lastMessage);
  assert.ok(EXPECTED_TEXT.startsWith(partial) && partial.length < EXPECTED_TEXT.length, partial);
  assert.deepEqual(statuses, ['submitted', 'streaming', 'ready']);
  report({ partial });
});

test('failure: an upstream failure mid-stream is status error with the server message', async () => {
  const { chat, statuses } = observed();
  await chat.sendMessage({ text: 'Say hello.' });
  assert.equal(chat.status, 'error');
  assert.deepEqual(statuses, ['submitted', 'streaming', 'error']);
  assert.equal(chat.error.message, EXPECTED_ERROR);
  report({ partial: textOf(chat.lastMessage) });
});

test('refused: a 4xx before the stream is status error with the server body', async () => {
  const { chat, statuses } = observed(JSON.parse(process.env.OPTIONS ?? '{}'));
  const files = JSON.parse(process.env.FILES ?? '[]');
  await chat.sendMessage({ text: 'What is in this picture?', files });
  assert.equal(chat.status, 'error');
  assert.deepEqual(statuses, ['submitted', 'error']);
  report({ error: JSON.parse(chat.error.message).error });
});

test('image: a file part reaches the model and the answer comes back', async () => {
  const { chat, statuses } = observed();
  const image = readFileSync(process.env.IMAGE_FILE);
  const files = [
    { type: 'file', mediaType: 'image/jpeg', filename: 'cup.jpg', url: `data:image/jpeg;base64,${image.toString('base64')}` },
  ];
  await chat.sendMessage({ text: 'What is in this picture?', files });
  assert.deepEqual(statuses, ['submitted', 'streaming', 'ready']);
  const [user, assistant] = chat.messages;
  assert.deepEqual(
    user.parts.map((p) => p.type),
    ['file', 'text'],
  );
  assert.equal(textOf(assistant), EXPECTED_TEXT);
});
