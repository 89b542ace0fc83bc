// What the AI SDK's providers make of an answer: `node ai_sdk_parts.mjs MODE PROVIDER` (MODE stream
// or generate), one JSON line: the fullStream parts (or generateText's result) as the SDK reports them.
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const packages = createRequire(process.env.SDK_PROJECT ? `${process.env.SDK_PROJECT}/package.json` : import.meta.url);
const load = (name) => import(pathToFileURL(packages.resolve(name)).href);
const { createOpenAI } = await load('@ai-sdk/openai');
const { createOpenAICompatible } = await load('@ai-sdk/openai-compatible');
const { generateText, jsonSchema, streamText, tool } = await load('ai');

const { BASE_URL, API_KEY } = process.env;
const compatible = createOpenAICompatible({ name: 'airelay', baseURL: BASE_URL, apiKey: API_KEY, includeUsage: true });
const openai = createOpenAI({ baseURL: BASE_URL, apiKey: API_KEY });
const models = { compatible: compatible.chatModel('gpt-4o-mini'), responses: openai('gpt-4o-mini'), chat: openai.chat('gpt-4o-mini') };
const model = models[process.argv[3]];
const schema = jsonSchema({ type: 'object', properties: { a: { type: 'number' } } });
const tools = { f: tool({ description: 'f', inputSchema: schema }), g: tool({ description: 'g', inputSchema: schema }) };
const shown = (v) => JSON.parse(JSON.stringify(v, (k, x) => (x instanceof Error ? { name: x.name, message: x.message } : x)));

if (process.argv[2] === 'stream') {
  const parts = [];
  const result = streamText({ model, maxRetries: 0, onError: () => {}, prompt: 'hi', tools });
  for await (const part of result.fullStream) parts.push(part);
  console.log(JSON.stringify(shown(parts.filter((p) => p.type !== 'raw'))));
} else {
  const r = await generateText({ model, maxRetries: 0, prompt: 'hi', tools });
  console.log(JSON.stringify(shown({ content: r.content, finishReason: r.finishReason, usage: r.usage, warnings: r.warnings })));
}
