// What the shared harness (../usechat.test.mjs) takes from this project's own `ai` and `@ai-sdk/react`.
export { Chat } from '@ai-sdk/react';
export { DefaultChatTransport, lastAssistantMessageIsCompleteWithToolCalls } from 'ai';
