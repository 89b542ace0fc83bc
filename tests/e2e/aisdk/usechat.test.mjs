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
      body: { persona: process.env.PERSONA ?? 'assistant', max_tokens: 256, ...options.body },
    }),
    onData: (part) => {
      if (part.type === 'data-usage') usage.push(part.data);
    },
    ...options.chat,
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

// ---------------------------------------------------------------- tools, steps, reasoning, sources

const toolParts = (message) => message.parts.filter((p) => p.type.startsWith('tool-'));
const until = async (what, check, ms = 15_000) => {
  const deadline = Date.now() + ms;
  while (!check()) {
    assert.ok(Date.now() < deadline, `${what} did not happen`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};

test('server tool: the tool runs on the server, its output and source arrive, then the answer', async () => {
  const { chat, statuses } = observed();
  await chat.sendMessage({ text: 'Weather in Seoul?' });
  assert.deepEqual(statuses, ['submitted', 'streaming', 'ready']);
  const answer = chat.lastMessage;
  const [weather] = toolParts(answer);
  assert.equal(weather.type, 'tool-weather');
  assert.equal(weather.state, 'output-available');
  assert.deepEqual(weather.input, { city: 'Seoul' });
  assert.deepEqual(weather.output, { city: 'Seoul', sky: 'clear' });
  const source = answer.parts.find((p) => p.type === 'source-document');
  assert.equal(source.sourceId, 'wx-Seoul');
  assert.equal(source.title, 'Seoul');
  assert.equal(answer.parts.filter((p) => p.type === 'step-start').length, 2);
  assert.equal(textOf(answer), EXPECTED_TEXT);
  assert.equal(answer.metadata.steps, 2);
  assert.equal(chat.messages.length, 2, 'a server tool is not posted back');
});

test('two tools: two calls in one step both run and both outputs arrive', async () => {
  const { chat } = observed();
  await chat.sendMessage({ text: 'Weather in Seoul and Busan?' });
  assert.equal(chat.status, 'ready');
  const outputs = toolParts(chat.lastMessage).map((p) => [p.state, p.output.city]);
  assert.deepEqual(outputs, [
    ['output-available', 'Seoul'],
    ['output-available', 'Busan'],
  ]);
  assert.equal(textOf(chat.lastMessage), EXPECTED_TEXT);
});

test('client tool: the README example (onToolCall + addToolOutput + sendAutomaticallyWhen) continues the answer', async () => {
  // web/examples/tool-chat.js, copied by pytest beside this project's node_modules with the test API's origin
  const { createToolChat } = await import(pathToFileURL(process.env.TOOL_CHAT_EXAMPLE).href);
  const calls = [];
  const chat = createToolChat(async (name, input) => {
    calls.push({ name, input });
    return { color: 'blue' };
  });
  await chat.sendMessage({ text: 'Pick a color for me.' });
  await until('the continued answer', () => chat.status === 'ready' && textOf(chat.lastMessage) === EXPECTED_TEXT);
  assert.equal(chat.error, undefined);
  assert.deepEqual(calls, [{ name: 'pick_color', input: { question: 'Which color?' } }]);
  assert.equal(chat.messages.length, 2, 'the answer continued in the same assistant message');
  const [pick] = toolParts(chat.lastMessage);
  assert.equal(pick.state, 'output-available');
  assert.deepEqual(pick.output, { color: 'blue' });
});

test('client tool after others: calls settled on the server before it do not stop the continued answer', async () => {
  const { createToolChat } = await import(pathToFileURL(process.env.TOOL_CHAT_EXAMPLE).href);
  const chat = createToolChat(async () => ({ color: 'blue' }));
  await chat.sendMessage({ text: 'Pick a color for me.' });
  const continued = () => chat.status === 'ready' && textOf(chat.lastMessage) === EXPECTED_TEXT;
  await until('the continued answer, or an error', () => chat.status === 'error' || continued());
  assert.equal(chat.error, undefined);
  assert.equal(chat.messages.length, 2, 'the answer continued in the same assistant message');
  const tools = toolParts(chat.lastMessage);
  report({ tools: tools.map(({ type, toolCallId, state, output }) => ({ type, toolCallId, state, output })) });
});

test('reasoning: reasoning deltas become a reasoning part before the text', async () => {
  const { chat } = observed();
  await chat.sendMessage({ text: 'Think first.' });
  assert.equal(chat.status, 'ready');
  const kinds = chat.lastMessage.parts.filter((p) => p.type === 'reasoning' || p.type === 'text');
  assert.deepEqual(
    kinds.map((p) => [p.type, p.text]),
    [
      ['reasoning', 'Let me think.'],
      ['text', 'Done.'],
    ],
  );
});

test('stop tool: stop() while a server tool runs keeps the call, status ready', async () => {
  const { chat, statuses } = observed();
  const sent = chat.sendMessage({ text: 'Slow one.' });
  await until('the tool call', () => chat.lastMessage?.role === 'assistant' && toolParts(chat.lastMessage).length > 0);
  await until('its input', () => toolParts(chat.lastMessage)[0].state === 'input-available');
  await chat.stop();
  await sent;
  assert.equal(chat.status, 'ready');
  assert.equal(chat.error, undefined);
  assert.deepEqual(statuses, ['submitted', 'streaming', 'ready']);
  report({ state: toolParts(chat.lastMessage)[0].state });
});

test('step failure: an upstream failure in step 2 is status error, step 1 kept, no finish', async () => {
  const { chat, statuses } = observed();
  await chat.sendMessage({ text: 'Weather in Seoul?' });
  assert.equal(chat.status, 'error');
  assert.deepEqual(statuses, ['submitted', 'streaming', 'error']);
  assert.equal(chat.error.message, EXPECTED_ERROR);
  const [weather] = toolParts(chat.lastMessage);
  assert.equal(weather.state, 'output-available');
  assert.equal(chat.lastMessage.metadata, undefined, 'no finish, so no message metadata');
  report({ partial: textOf(chat.lastMessage) });
});
