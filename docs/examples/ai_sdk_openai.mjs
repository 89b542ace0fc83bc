// airelay through the AI SDK's OpenAI providers: only the base URL and an airelay API key change.
import { createOpenAI } from '@ai-sdk/openai';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { generateText, streamText } from 'ai';

const baseURL = process.env.AIRELAY_BASE_URL ?? 'http://127.0.0.1:8000/v1';
const apiKey = process.env.AIRELAY_API_KEY ?? 'dev'; // on AWS: the API key of the usage plan

// @ai-sdk/openai calls /v1/responses; openai.chat(...) calls /v1/chat/completions
const openai = createOpenAI({ baseURL, apiKey });
const { text } = await generateText({ model: openai('gpt-4o-mini'), prompt: 'Say hello.' });
console.log(text);

// @ai-sdk/openai-compatible calls /v1/chat/completions
const airelay = createOpenAICompatible({ name: 'airelay', baseURL, apiKey, includeUsage: true });
const result = streamText({ model: airelay.chatModel('gpt-4o-mini'), prompt: 'Say hello.' });
for await (const delta of result.textStream) process.stdout.write(delta);
console.log(`\n${(await result.usage).totalTokens} tokens`);
