// The AI SDK's OpenAI providers against the local API's /v1 routes with nothing but a base URL and a key:
// @ai-sdk/openai-compatible (chat completions), and @ai-sdk/openai through /v1/responses (its default) and through
// chat completions (.chat). Run by test_ai_sdk.py: `node ai_sdk.mjs SCENARIO PROVIDER`; prints one JSON line. MODEL names
// another model than gpt-4o-mini; STORE=false is the AI SDK's stateless Responses API (providerOptions.openai.store).
// SDK_PROJECT names an npm project whose packages to use (tests/e2e/aisdk/ai7: ai 7 with @ai-sdk/openai 4); else the
// repository's own (ai 5 with @ai-sdk/openai 2).
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const packages = createRequire(process.env.SDK_PROJECT ? `${process.env.SDK_PROJECT}/package.json` : import.meta.url);
const load = (name) => import(pathToFileURL(packages.resolve(name)).href);
const { createOpenAI } = await load('@ai-sdk/openai');
const { createOpenAICompatible } = await load('@ai-sdk/openai-compatible');
const { generateObject, generateText, jsonSchema, stepCountIs, streamText, tool } = await load('ai');

const { BASE_URL, API_KEY } = process.env;
const compatible = createOpenAICompatible({ name: 'airelay', baseURL: BASE_URL, apiKey: API_KEY, includeUsage: true });
const openai = createOpenAI({ baseURL: BASE_URL, apiKey: API_KEY });
const modelId = process.env.MODEL ?? 'gpt-4o-mini';
const models = {
  compatible: compatible.chatModel(modelId),
  responses: openai(modelId),
  chat: openai.chat(modelId),
};
const providerOptions = process.env.STORE === 'false' ? { openai: { store: false } } : undefined;
const model = models[process.argv[3]];

const weather = tool({
  description: 'The weather in a city',
  inputSchema: jsonSchema({ type: 'object', properties: { city: { type: 'string' } }, required: ['city'] }),
});
const city = jsonSchema({
  type: 'object',
  properties: { name: { type: 'string' }, population: { type: 'integer' } },
  required: ['name', 'population'],
  additionalProperties: false,
});

async function streamed(options) {
  const parts = [];
  const result = streamText({ model, maxRetries: 0, onError: () => {}, providerOptions, ...options });
  for await (const part of result.fullStream) parts.push(part);
  return parts;
}

const scenarios = {
  async generateText() {
    const { text, usage, finishReason } = await generateText({ model, prompt: 'Say hello.', maxRetries: 0 });
    return { text, usage, finishReason };
  },
  async streamText() {
    const parts = await streamed({ prompt: 'Say hello.' });
    const text = parts.filter((p) => p.type === 'text-delta').map((p) => p.text).join('');
    const finish = parts.find((p) => p.type === 'finish');
    return { text, finishReason: finish?.finishReason, usage: finish?.totalUsage };
  },
  async streamTools() {
    const parts = await streamed({ prompt: 'Weather in Seoul?', tools: { get_weather: weather } });
    const calls = parts.filter((p) => p.type === 'tool-call').map((p) => ({ id: p.toolCallId, name: p.toolName, input: p.input }));
    const deltas = parts.filter((p) => p.type === 'tool-input-delta').length;
    const finish = parts.find((p) => p.type === 'finish');
    return { calls, deltas, finishReason: finish?.finishReason, errors: parts.filter((p) => p.type === 'error').length };
  },
  async generateObject() {
    const { object } = await generateObject({ model, schema: city, prompt: 'Biggest city?', maxRetries: 0 });
    return { object };
  },
  async toolLoop() {
    const runs = tool({ ...weather, execute: async () => 'sunny' });
    const parts = await streamed({ prompt: 'Weather in Seoul?', tools: { get_weather: runs }, stopWhen: stepCountIs(2) });
    const text = parts.filter((p) => p.type === 'text-delta').map((p) => p.text).join('');
    const errors = parts.filter((p) => p.type === 'error').map((p) => String(p.error?.responseBody ?? p.error?.message));
    return { text, errors, steps: parts.filter((p) => p.type === 'finish-step').length };
  },
  async streamError() {
    const parts = await streamed({ prompt: 'Weather in Seoul?', tools: { get_weather: weather } });
    const finish = parts.find((p) => p.type === 'finish');
    const errors = parts.filter((p) => p.type === 'error').map((p) => String(p.error?.message ?? JSON.stringify(p.error)));
    return { errors, finishReason: finish?.finishReason, calls: parts.filter((p) => p.type === 'tool-call').length };
  },
};

console.log(JSON.stringify(await scenarios[process.argv[2]]()));
